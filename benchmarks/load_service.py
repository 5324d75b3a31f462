"""Load test of `xander serve`: rounds of concurrent requests against a server on loopback.

    python benchmarks/load_service.py --requests 50 --rounds 5 --delay 0.1 --queue 8 \
        --queue 64 --out benchmarks/results/service_load.md

For each ``--queue`` size a server process starts on 127.0.0.1 (the real app under uvicorn, the
real search on Spider's concert_singer, the scripted model of the tests, which takes ``--delay``
seconds a question, like a model's prompt evaluation, so the numbers are the service's, not a
model's).  Then ``--rounds`` times, ``--requests`` clients send one question each at the same
moment, half to ``/v1/ask`` and half to ``/v1/ask/stream``.  Each must be answered (200, the
right rows) or refused (503 with Retry-After); anything else, a wrong answer, or a request that
gets no reply within ``--client-timeout`` counts as lost.  The server's resident memory is read
from ``/proc/<pid>/status`` before the first round and after each one (VmRSS; VmHWM is the
peak).  The run is bounded: ``requests x rounds`` requests and ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data")) / "spider"
DB = DATA / "database" / "concert_singer" / "concert_singer.sqlite"


# -- the server process -------------------------------------------------------------------------
def serve(port: int, delay: float, queue: int, timeout: float) -> None:
    import uvicorn

    from tests.service_support import ConcertLM, make_service
    from xander.service.app import create_app

    service = make_service({"concert_singer": DB}, ConcertLM(delay_s=delay), capacity=queue,
                           timeout_s=timeout)
    uvicorn.run(create_app(service), host="127.0.0.1", port=port, log_level="warning")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of ``pid``, in KiB, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


# -- the clients --------------------------------------------------------------------------------
async def one(client, url: str, question: str, expected, stream: bool) -> tuple[str, float]:
    """('answered' | 'refused' | 'lost: why', seconds)."""
    start = time.perf_counter()
    body = {"question": question}
    try:
        if stream:
            async with client.stream("POST", f"{url}/v1/ask/stream", json=body) as r:
                if r.status_code == 503:
                    await r.aread()
                    ok = "retry-after" in r.headers
                    return ("refused" if ok else "lost: 503 without Retry-After",
                            time.perf_counter() - start)
                if r.status_code != 200:
                    return f"lost: status {r.status_code}", time.perf_counter() - start
                last, name = None, None
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        last = (name, json.loads(line[5:]))
                if last is None or last[0] != "result":
                    return f"lost: stream ended with {last and last[0]}", time.perf_counter() - start
                rows = last[1]["rows"]
        else:
            r = await client.post(f"{url}/v1/ask", json=body)
            if r.status_code == 503:
                ok = "retry-after" in r.headers
                return ("refused" if ok else "lost: 503 without Retry-After",
                        time.perf_counter() - start)
            if r.status_code != 200:
                return f"lost: status {r.status_code}", time.perf_counter() - start
            rows = r.json()["rows"]
    except Exception as exc:  # noqa: BLE001 - a request with no reply is what we count
        return f"lost: {type(exc).__name__}", time.perf_counter() - start
    if rows != expected:
        return "lost: wrong rows", time.perf_counter() - start
    return "answered", time.perf_counter() - start


async def round_(url: str, n: int, timeout: float) -> list[tuple[str, float]]:
    import httpx

    from tests.service_support import BY_COUNTRY, BY_YEAR, COUNT, EXPECTED_ROWS

    questions = [(COUNT, BY_COUNTRY, BY_YEAR)[i % 3] for i in range(n)]
    limits = httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        return await asyncio.gather(*(one(client, url, q, EXPECTED_ROWS[q], i % 2 == 1)
                                      for i, q in enumerate(questions)))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def run(queue: int, args: argparse.Namespace) -> dict:
    from tests.service_support import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(port),
                             "--delay", str(args.delay), "--queue", str(queue),
                             "--timeout", str(args.server_timeout)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        httpx.post(f"{url}/v1/ask", json={"question": "How many singers are there?"}, timeout=30)
        before = memory_kib(proc.pid)
        rounds, started = [], time.monotonic()
        for i in range(args.rounds):
            if time.monotonic() - started > args.max_seconds:
                print(f"stopped after {i} rounds: --max-seconds {args.max_seconds}")
                break
            t0 = time.perf_counter()
            replies = asyncio.run(round_(url, args.requests, args.client_timeout))
            wall = time.perf_counter() - t0
            mem = memory_kib(proc.pid)
            rounds.append({"replies": replies, "wall_s": wall, **mem})
            answered = sum(1 for o, _ in replies if o == "answered")
            refused = sum(1 for o, _ in replies if o == "refused")
            print(f"queue {queue} round {i + 1}: {answered} answered, {refused} refused, "
                  f"{len(replies) - answered - refused} lost, {wall:.2f} s, "
                  f"RSS {mem['VmRSS'] / 1024:.1f} MiB", flush=True)
        health = httpx.get(f"{url}/v1/health", timeout=5).json()["queue"]
    finally:
        proc.terminate()
        proc.wait(20)
    replies = [r for rd in rounds for r in rd["replies"]]
    lat = {k: [s for o, s in replies if o == k] for k in ("answered", "refused")}
    lost = [o for o, _ in replies if o.startswith("lost")]
    return {
        "queue": queue, "rounds": len(rounds), "requests": len(replies),
        "answered": len(lat["answered"]), "refused": len(lat["refused"]), "lost": len(lost),
        "lost_why": sorted(set(lost)),
        "p50_answered": pct(lat["answered"], 50), "p95_answered": pct(lat["answered"], 95),
        "p50_refused": pct(lat["refused"], 50), "p95_refused": pct(lat["refused"], 95),
        "rss_before_mib": before["VmRSS"] / 1024,
        "rss_after_mib": [rd["VmRSS"] / 1024 for rd in rounds],
        "peak_mib": max(rd["VmHWM"] for rd in rounds) / 1024,
        "wall_s": [rd["wall_s"] for rd in rounds],
        "idle_after": health,
    }


def _s(v: float, digits: int = 2) -> str:
    return "-" if math.isnan(v) else f"{v:.{digits}f}"  # NaN: no such request


def report(results: list[dict], args: argparse.Namespace) -> str:
    from xander.bench.runner import code_commit

    lines = [
        "# `xander serve` under load",
        "",
        f"Command: `python benchmarks/load_service.py {' '.join(sys.argv[1:])}`  ",
        (f"Commit {code_commit(ROOT)}; {platform.machine()}, {os.cpu_count()} cores, Python "
         f"{platform.python_version()}; server and clients on one machine, over loopback."),
        "",
        (f"Each round, {args.requests} clients send one question at the same moment (half to "
        "`/v1/ask`, half to `/v1/ask/stream`) to one server process: the real app under "
        "uvicorn, the real search on Spider's concert_singer, and the tests' scripted model, "
        f"which takes {args.delay:g} s a question (so the figures are the service's: its queue, "
        "its threads, its memory). One question is answered at a time, as with the embedded "
        "model; `--queue` may wait; the rest are refused with 503 and Retry-After. A reply "
        "other than 200 with the right rows or 503 with Retry-After, or none, is lost."),
        "",
        ("| queue | rounds | requests | answered | refused | lost | p50 / p95 answered s | "
         "p50 / p95 refused s | RSS before MiB | RSS after each round MiB | peak MiB |"),
        "|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['queue']} | {r['rounds']} | {r['requests']} | {r['answered']} | "
            f"{r['refused']} | {r['lost']} | {_s(r['p50_answered'])} / {_s(r['p95_answered'])} "
            f"| {_s(r['p50_refused'], 3)} / {_s(r['p95_refused'], 3)} | "
            f"{r['rss_before_mib']:.1f} | "
            f"{', '.join(f'{m:.1f}' for m in r['rss_after_mib'])} | {r['peak_mib']:.1f} |")
    lines += ["", "After the last round the queue was idle again: " + "; ".join(
        f"queue {r['queue']}: {r['idle_after']}" for r in results) + "."]
    if any(r["lost_why"] for r in results):
        lines += ["", "Lost: " + "; ".join(", ".join(r["lost_why"]) for r in results)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=50, help="concurrent requests a round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--delay", type=float, default=0.1, help="seconds the model takes a question")
    ap.add_argument("--queue", type=int, action="append", help="waiting places (repeatable)")
    ap.add_argument("--server-timeout", type=float, default=60.0)
    ap.add_argument("--client-timeout", type=float, default=120.0)
    ap.add_argument("--max-seconds", type=float, default=600.0, help="bound on the whole run")
    ap.add_argument("--out", type=Path, help="write the report (markdown) here")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.port, args.delay, (args.queue or [8])[0], args.timeout)
        return
    if not DB.is_file():
        raise SystemExit(f"concert_singer not found at {DB} (set XANDER_DATA)")
    results = [run(q, args) for q in (args.queue or [8])]
    text = report(results, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if any(r["lost"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
