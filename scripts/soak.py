#!/usr/bin/env python3
"""Soak test of `vllm serve`: many mixed requests from concurrent clients.

    python scripts/soak.py [--model qwen3_vl] [--requests 400] [--clients 4]

Starts the tiny server on 127.0.0.1, warms it up, then sends `--requests`
requests from `--clients` threads: images, videos, both, text, and bad inputs
(corrupt image, truncated video, too many images, a prompt over the context
length, audio to a vision-only model, an unknown content part type; see
scripts/soak_cases.py). It checks that

- every good request is answered (HTTP 200 with a completion),
- every bad one gets the expected 4xx whose message names the problem,
- the server never restarts (same API-server and engine-core processes,
  /health answers at the end),
- the resident memory of the server's processes at the end is within
  `--max-growth` (10%) of their memory after the warm-up,

within `--time-limit` seconds, and prints requests, failures, p50/p99
latency and memory growth. Exit status 0 when every check holds.

The multimodal processor cache is off (--mm-processor-cache-gb 0): it is a
bounded cache by design (4 GiB by default) that would grow with every new
image, which is not a leak; with it off, memory that grows is a leak.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import DEFAULT_MODEL, ServerError, VLLMServer  # noqa: E402
from soak_cases import Case, schedule  # noqa: E402

REQUEST_TIMEOUT_S = 120.0
MAX_TOKENS = 4
SERVER_ARGS = ["--mm-processor-cache-gb", "0"]


@dataclass
class Outcome:
    case: str
    ok: bool
    status: int
    latency_s: float
    problem: str = ""


@dataclass
class SoakReport:
    outcomes: list[Outcome] = field(default_factory=list)
    not_sent: int = 0
    rss_after_warmup: int = 0
    rss_at_end: int = 0
    # "name pid": RSS in bytes, after the warm-up and at the end.
    rss_by_process: dict[str, tuple[int, int]] = field(default_factory=dict)
    restarted: str = ""  # why the server counts as restarted; "" if it did not
    wall_s: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def memory_growth(self) -> float:
        if not self.rss_after_warmup:
            return float("nan")  # never measured (the warm-up failed)
        return self.rss_at_end / self.rss_after_warmup - 1.0

    def latency(self, q: float) -> float:
        """Quantile `q` of the latencies of all requests (seconds)."""
        lat = sorted(o.latency_s for o in self.outcomes)
        if len(lat) < 2:
            return lat[0] if lat else float("nan")
        return statistics.quantiles(lat, n=100, method="inclusive")[round(q * 100) - 1]

    def passed(self, max_growth: float) -> bool:
        return (
            not self.failures
            and not self.not_sent
            and not self.restarted
            and self.rss_after_warmup > 0
            and self.rss_at_end <= self.rss_after_warmup * (1.0 + max_growth)
        )

    def summary(self, max_growth: float) -> str:
        by_case = Counter(o.case for o in self.outcomes)
        lines = [
            f"requests: {len(self.outcomes)} sent, {self.not_sent} not sent "
            f"(time limit), {len(self.failures)} failures, {self.wall_s:.1f} s",
            "by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(by_case.items())),
            f"latency: p50 {self.latency(0.5) * 1000:.0f} ms, "
            f"p99 {self.latency(0.99) * 1000:.0f} ms",
            f"server RSS: {self.rss_after_warmup / 2**20:.1f} MiB after warm-up, "
            f"{self.rss_at_end / 2**20:.1f} MiB at end, growth "
            f"{self.memory_growth * 100:+.1f}% (limit {max_growth * 100:.0f}%)",
            f"server restarted: {self.restarted or 'no'}",
        ]
        lines += [
            f"  {name}: {a / 2**20:.1f} -> {b / 2**20:.1f} MiB"
            for name, (a, b) in self.rss_by_process.items()
        ]
        lines += [
            f"FAILED {o.case}: HTTP {o.status}: {o.problem}" for o in self.failures[:20]
        ]
        lines.append("soak: PASS" if self.passed(max_growth) else "soak: FAIL")
        return "\n".join(lines)


def server_processes(server: VLLMServer) -> list[psutil.Process]:
    """The API server and all its descendants (the engine core, ...)."""
    if server.proc is None:
        raise ServerError("server not started")
    root = psutil.Process(server.proc.pid)
    return [root, *root.children(recursive=True)]


def rss_of(procs: list[psutil.Process]) -> dict[str, int]:
    """RSS in bytes of each process, keyed "name pid"."""
    return {f"{p.name()} {p.pid}": p.memory_info().rss for p in procs}


def check_response(case: Case, status: int, body: bytes) -> str:
    """'' if the response is what `case` must get, else what is wrong."""
    text = body.decode(errors="replace")
    if status != case.status:
        return f"expected HTTP {case.status}: {text[:300]}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return f"not JSON: {text[:300]}"
    if case.good:
        choices = data.get("choices") or []
        usage = data.get("usage") or {}
        if len(choices) != 1 or not isinstance(choices[0]["message"]["content"], str):
            return f"no completion: {text[:300]}"
        if not 1 <= usage.get("completion_tokens", 0) <= MAX_TOKENS:
            return f"bad usage: {usage}"
        return ""
    message = str((data.get("error") or {}).get("message", ""))
    missing = [w for w in case.words if w.lower() not in message.lower()]
    return f"message does not name {missing}: {message[:300]}" if missing else ""


def send(url: str, model: str, case: Case, rng: random.Random) -> Outcome:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": case.build(rng)}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
    }
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
        return Outcome(case.name, False, 0, time.monotonic() - start, repr(e))
    latency = time.monotonic() - start
    problem = check_response(case, status, payload)
    return Outcome(case.name, not problem, status, latency, problem)


def run_requests(
    url: str,
    model: str,
    cases: list[Case],
    clients: int,
    seed: int,
    deadline: float,
) -> tuple[list[Outcome], int]:
    """Send `cases` from `clients` threads; none is started after `deadline`.

    Returns the outcomes (in order) and how many were not sent."""
    not_sent = 0
    lock = threading.Lock()

    def one(i: int) -> Outcome | None:
        nonlocal not_sent
        if time.monotonic() > deadline:
            with lock:
                not_sent += 1
            return None
        return send(url, model, cases[i], random.Random(seed * 100_003 + i))

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(len(cases))))
    return [o for o in results if o is not None], not_sent


def run_soak(
    server: VLLMServer,
    *,
    requests: int,
    clients: int = 4,
    warmup: int = 100,
    time_limit_s: float = 1800.0,
    seed: int = 0,
) -> SoakReport:
    """Warm the running `server` up, then soak it; see the module docstring."""
    url = f"{server.api_url}/chat/completions"
    deadline = time.monotonic() + time_limit_s
    report = SoakReport()
    # Warm-up: every kind of request, then a mix like the soak's, so that the
    # allocators' pools reach the sizes the mix of media shapes needs.
    warm = schedule(warmup, -1 - seed)
    warm_out, _ = run_requests(
        url, server.served_name, warm, clients, -1 - seed, deadline
    )
    # A wrong answer during the warm-up is a failure like any other.
    warm_failures = [o for o in warm_out if not o.ok]
    if not server.is_alive():
        report.outcomes = warm_failures
        report.restarted = "the API server exited during the warm-up"
        return report
    procs = server_processes(server)
    pids = sorted(p.pid for p in procs)
    rss_warm = rss_of(procs)
    report.rss_after_warmup = sum(rss_warm.values())

    start = time.monotonic()
    report.outcomes, report.not_sent = run_requests(
        url, server.served_name, schedule(requests, seed), clients, seed, deadline
    )
    report.wall_s = time.monotonic() - start
    report.outcomes[:0] = warm_failures

    if not server.is_alive():
        report.restarted = "the API server exited"
        return report
    now = server_processes(server)
    if sorted(p.pid for p in now) != pids:
        report.restarted = f"processes changed: {pids} -> {sorted(p.pid for p in now)}"
    elif not _health(server):
        report.restarted = "/health does not answer 200"
    rss_end = rss_of(now)
    report.rss_at_end = sum(rss_end.values())
    report.rss_by_process = {k: (v, rss_end.get(k, 0)) for k, v in rss_warm.items()}
    return report


def _health(server: VLLMServer) -> bool:
    try:
        with urllib.request.urlopen(f"{server.base_url}/health", timeout=10) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100, help="requests")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="seconds")
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1:
        parser.error("--requests and --clients must be >= 1")
    try:
        with VLLMServer(args.model, extra_args=SERVER_ARGS) as server:
            print(f"soak: {' '.join(server.cmd)}", flush=True)
            report = run_soak(
                server,
                requests=args.requests,
                clients=args.clients,
                warmup=args.warmup,
                time_limit_s=args.time_limit,
                seed=args.seed,
            )
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary(args.max_growth), flush=True)
    return 0 if report.passed(args.max_growth) else 1


if __name__ == "__main__":
    sys.exit(main())
