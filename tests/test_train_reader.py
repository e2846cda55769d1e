"""Training the answer reader on a CPU: the pieces that make its out-of-fold models affordable there.

Pins: the frozen layers' stored states give the same logits as running the whole reader (training from
them is the same training); a fold model a run saves reads back and scores as it did when saved; fewer
fold models merge the data file's five folds and never give one to a question the reader does not train
on; a training question's candidate the run did not score is read by its own fold's model (out of fold),
any other question's is left to the bundled reader.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import reader_data  # noqa: E402
import train_reader as T  # noqa: E402
from assistant.reader import passage_ids, question_ids  # noqa: E402

QUESTION = "NPOを立ち上げたいときの相談先は？"
TEXTS = ["市民活動｜市民活動支援センターでは団体の設立や運営の相談に応じます。", "防災｜自主防災組織の結成を支援します。"]


@pytest.fixture(scope="module")
def reader_and_core():
    torch.manual_seed(0)
    reader, core = T.fresh_reader(torch.device("cpu"))
    with torch.no_grad():  # a head that is not zero, so that scores differ between candidates
        reader.head.weight.normal_(0, 0.05)
        reader.head.bias.fill_(0.3)
    return reader.eval(), core


def _ids(core, question=QUESTION, texts=TEXTS):
    q = question_ids(core, question)
    return [q + passage_ids(core, t) for t in texts]


@pytest.mark.parametrize("fold, groups, expected", [(0, 5, 0), (4, 5, 4), (4, 2, 0), (3, 2, 1), (2, 3, 2), (3, 3, 0), (-1, 3, -1)])
def test_fewer_fold_models_merge_the_data_files_folds(fold, groups, expected):
    assert T.fold_group({"fold": fold}, groups) == expected


def test_the_frozen_layers_stored_states_give_the_whole_readers_logits(reader_and_core):
    reader, core = reader_and_core
    ids = _ids(core)
    device = torch.device("cpu")
    cache = T.LowerCache(reader, ids, [0, 1], device)
    x, m = cache.batch([0, 1], device)
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=T.bf16_autocast(device)):
        from_cache = reader.upper(x, m).float().numpy()
    whole = T.score(reader, ids, [0, 1], device)
    assert from_cache.shape == (2,)
    np.testing.assert_allclose(from_cache, whole, atol=0.05)  # bf16 rounding of the stored states only
    assert abs(whole[0] - whole[1]) > 1e-3  # the two candidates are told apart: the comparison means something


def _run_dir(tmp_path: Path, reader, core, folds: int) -> Path:
    """A run directory as ``train_reader.py --fold-scores on-demand --no-final`` leaves it: fold models,
    a pairs file and scores.npy with nothing scored."""
    from safetensors.torch import save_file

    run = tmp_path / "run"
    run.mkdir()
    for f in range(folds):
        save_file(T.top_tensors(reader, core), str(run / f"fold{f}.safetensors"))
    pairs = tmp_path / "pairs.json.gz"
    questions = [{"q": QUESTION, "fold": 3, "cands": [[0, 1], [1, 0]]}, {"q": "ボランティアを始めるには？", "fold": -1, "cands": [[0, 0], [1, 0]]}]
    with gzip.open(pairs, "wt", encoding="utf-8") as fh:
        json.dump({"texts": TEXTS, "questions": questions}, fh, ensure_ascii=False)
    np.save(run / "scores.npy", np.full(4, np.nan, dtype=np.float32))
    (run / "log.json").write_text(json.dumps({"args": {"pairs": str(pairs), "folds": folds}}), encoding="utf-8")
    return run


def test_a_saved_fold_model_scores_as_it_did_when_saved(tmp_path, reader_and_core):
    reader, core = reader_and_core
    run = _run_dir(tmp_path, reader, core, folds=2)
    back = T.FoldReaders(run).scores(1, QUESTION, TEXTS)
    np.testing.assert_allclose(back, T.score(reader, _ids(core), [0, 1], torch.device("cpu")), atol=0.02)


def test_unscored_candidates_of_a_training_question_are_read_by_its_fold_model(tmp_path, reader_and_core):
    reader, core = reader_and_core
    run = _run_dir(tmp_path, reader, core, folds=2)
    (run / "fold0.safetensors").unlink()  # the question's fold (3 % 2 = 1) must be the one read
    stored = reader_data.StoredScores(run)
    got = stored.scores(QUESTION, TEXTS)
    assert all(v is not None for v in got) and stored.fold_reads == 2
    np.testing.assert_allclose(got, T.score(reader, _ids(core), [0, 1], torch.device("cpu")), atol=0.02)
    assert stored.scores("ボランティアを始めるには？", TEXTS) == [None, None]  # never trained on: the bundled reader's


def test_a_run_without_a_final_model_is_not_written(tmp_path, reader_and_core):
    reader, core = reader_and_core
    run = _run_dir(tmp_path, reader, core, folds=1)
    with pytest.raises(SystemExit, match="out-of-fold models only"):
        T.write_reader(run, tmp_path / "out")
