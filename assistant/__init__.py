"""machizukuri-qa: cited answers from Japanese municipal plan documents.

    from assistant import Assistant
    a = Assistant.load()            # corpus/ → index/ (built when missing or stale)
    print(a.ask("NPO法人認証数の目標値は？").text)

``Assistant`` is imported lazily so light commands (``python -m assistant chunks``) do not load
torch and the embedding model.
"""

__version__ = "0.1.0"
__all__ = ["Assistant", "Answer", "Hit", "Chunk", "Document"]


def __getattr__(name):
    if name == "Assistant":
        from .core import Assistant

        return Assistant
    if name in {"Answer", "Hit", "Chunk", "Document", "Citation"}:
        from . import types

        return getattr(types, name)
    raise AttributeError(name)
