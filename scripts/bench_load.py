"""Load benchmark for the JSON API: N concurrent clients on loopback, bounded in count and time.

    python scripts/bench_load.py --clients 20 50               # starts its own server (python app.py)
    python scripts/bench_load.py --url http://127.0.0.1:7860 --clients 50

Each client is a closed loop (send, wait for the answer, send the next) over a fixed list of
real residents'/staff questions, some with history (follow-ups), so the server does the same
work as in use. A run stops after ``--requests-per-client`` answers per client or
``--duration`` seconds, whichever comes first; then it prints throughput, latency
percentiles and errors (any non-200 or transport error counts as an error; 503 "busy" is
reported separately because it is the server protecting itself, by design).

Only loopback targets are accepted: this script is for measuring our own server on this
machine, never anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS: list[dict] = [
    {"question": "地域協働体とは何ですか？"},
    {"question": "市民活動団体への補助金はありますか？"},
    {"question": "公共施設の里親制度とはどんな仕組みですか？"},
    {"question": "NPO法人の認証数の目標はいくつですか？"},
    {"question": "協働推進プランの基本方針を教えてください"},
    {"question": "地域コミュニティの振興の現状と課題は？"},
    {"question": "電子自治体の推進で目標指標は何ですか？"},
    {"question": "協働を担う人材育成のための取り組みは？"},
    {"question": "男女共同参画社会の形成に向けた施策は？"},
    {"question": "広域連携の強化について書かれていますか？"},
    {"question": "その目標値は？", "history": [
        {"role": "user", "content": "NPO法人の認証数について教えて"},
        {"role": "assistant", "content": "NPO法人の認証数は…[1]"}]},
    {"question": "駅前のおいしいラーメン屋を教えて"},  # refused: exercises the refusal path
]


def _percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        sys.exit(f"refusing to load-test {host!r}: only loopback (127.0.0.0/8, ::1, localhost) is allowed")


class _Conn:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this benchmark.

    Why not httpx: measured here, httpx's AsyncClient with 50 concurrent connections spent more
    CPU than the server (a trivial GET reached ~90 req/s through it vs ~5,700 req/s with wrk),
    so on a 2-core machine the client, not the server, set the latency. This client costs
    a few dozen microseconds per request.
    """

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader = self.writer = None

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def post_json(self, path: str, body: dict) -> tuple[int, bytes]:
        return await asyncio.wait_for(self._post(path, body), self.timeout)

    async def _post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        self.writer.write(head.encode("ascii") + payload)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v:
                chunked = True
            elif k == "connection" and v == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length or 0)
        if close:
            await self.close()
        return status, data


async def run_level(url: str, clients: int, per_client: int, duration: float, timeout: float,
                    unique: bool = False) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    stop_at = time.monotonic() + duration
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80

    async def one_client(i: int):
        conn = _Conn(host, port, timeout)
        try:
            for j in range(per_client):
                if time.monotonic() >= stop_at:
                    return
                body = QUESTIONS[(i * 7 + j) % len(QUESTIONS)]
                if unique:  # defeat the server's answer cache: every question text is new
                    body = {**body, "question": f"{body['question']} （問{clients}-{i}-{j}）"}
                t0 = time.perf_counter()
                try:
                    status, data = await conn.post_json("/api/ask", body)
                    key = str(status)
                    if status == 200:
                        json.loads(data)  # a full, parseable answer
                except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                        ValueError, IndexError) as e:
                    key = type(e).__name__
                    await conn.close()
                dt = time.perf_counter() - t0
                statuses[key] = statuses.get(key, 0) + 1
                if key == "200":
                    latencies.append(dt)
        finally:
            await conn.close()

    t_start = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    wall = time.perf_counter() - t_start
    ok = statuses.get("200", 0)
    total = sum(statuses.values())
    return {
        "clients": clients,
        "requests": total,
        "ok": ok,
        "errors": total - ok - statuses.get("503", 0),
        "busy_503": statuses.get("503", 0),
        "statuses": statuses,
        "wall_s": round(wall, 2),
        "throughput_rps": round(ok / wall, 2) if wall else 0.0,
        "p50_ms": round(1000 * _percentile(latencies, 0.50), 1),
        "p95_ms": round(1000 * _percentile(latencies, 0.95), 1),
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1),
        "max_ms": round(1000 * max(latencies), 1) if latencies else float("nan"),
    }


def _tree_cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process and its children (Linux /proc), or None."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        pids = [pid]
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids += [int(x) for x in children.read_text().split()]
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: str, extra_env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, **extra_env}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
         "--corpus", str(ROOT / "corpus"), "--index", index_dir, "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("server exited during start:\n" + (proc.stderr.read() if proc.stderr else ""))
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit("server did not become healthy within 300 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an already running server (loopback only); default: start one")
    ap.add_argument("--clients", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--requests-per-client", type=int, default=10)
    ap.add_argument("--duration", type=float, default=60.0, help="upper bound per level, seconds")
    ap.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    ap.add_argument("--warmup", type=int, default=len(QUESTIONS), help="sequential requests before measuring")
    ap.add_argument("--unique", action="store_true",
                    help="make every question text unique, so the server's answer cache never hits")
    ap.add_argument("--server-cache", type=int, default=None,
                    help="answer cache size for the server this script starts (ASSISTANT_ANSWER_CACHE; 0 = off)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes for the server this script starts")
    ap.add_argument("--server-concurrency", type=int, default=None,
                    help="questions answered at once per worker (ASSISTANT_CONCURRENCY) for the server this script starts")
    ap.add_argument("--json", action="store_true", help="print results as JSON too")
    args = ap.parse_args(argv)
    if max(args.clients) > 200 or args.requests_per_client > 1000 or args.duration > 600:
        sys.exit("bounds: at most 200 clients, 1000 requests per client, 600 s per level")

    proc = None
    tmp = None
    url = args.url
    if url:
        _require_loopback(url)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-index-")
        extra = {} if args.server_cache is None else {"ASSISTANT_ANSWER_CACHE": str(args.server_cache)}
        if args.server_concurrency is not None:
            extra["ASSISTANT_CONCURRENCY"] = str(args.server_concurrency)
        proc, url = start_server(tmp.name, extra, args.workers)
    try:
        health = httpx.get(url + "/api/health", timeout=10).json()
        for i in range(args.warmup):
            httpx.post(url + "/api/ask", json=QUESTIONS[i % len(QUESTIONS)], timeout=args.timeout)
        print(f"# machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"{platform.system()} {platform.release()}")
        print(f"# server: {url}  index: {health.get('documents')} documents, {health.get('passages')} passages, "
              f"model {health.get('model')}")
        print(f"# bounds: {args.requests_per_client} requests/client, <= {args.duration:.0f} s per level; "
              f"questions: {'unique (cache never hits)' if args.unique else f'{len(QUESTIONS)} repeated'}"
              + ("" if args.url else f"; server: workers={args.workers}, answer cache="
                 + ("default" if args.server_cache is None else str(args.server_cache))
                 + ", concurrency=" + ("default" if args.server_concurrency is None else str(args.server_concurrency))))
        print("| clients | requests | ok | errors | 503 busy | wall s | throughput req/s | p50 ms | p95 ms | p99 ms | max ms "
              "| server CPU ms/req |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        results = []
        for n in args.clients:
            cpu0 = _tree_cpu_seconds(proc.pid) if proc else None
            res = asyncio.run(run_level(url, n, args.requests_per_client, args.duration, args.timeout,
                                        unique=args.unique))
            cpu1 = _tree_cpu_seconds(proc.pid) if proc else None
            res["server_cpu_ms_per_req"] = (round(1000 * (cpu1 - cpu0) / res["requests"], 1)
                                            if cpu0 is not None and cpu1 is not None and res["requests"] else None)
            results.append(res)
            print(f"| {res['clients']} | {res['requests']} | {res['ok']} | {res['errors']} | {res['busy_503']} | "
                  f"{res['wall_s']} | {res['throughput_rps']} | {res['p50_ms']} | {res['p95_ms']} | "
                  f"{res['p99_ms']} | {res['max_ms']} | {res['server_cpu_ms_per_req'] or '-'} |", flush=True)
            if res["errors"] or res["busy_503"]:
                print(f"#   statuses: {res['statuses']}", flush=True)
        if args.json:
            print(json.dumps(results, ensure_ascii=False, indent=2))
        return 1 if any(r["errors"] for r in results) else 0
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
