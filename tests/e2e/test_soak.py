"""Short soak of `vllm serve` (the long one is `make soak`).

A tiny Qwen3-VL server on 127.0.0.1 gets a warm-up and then a mix of good
and bad requests from 4 concurrent clients (scripts/soak.py): every good one
must be answered, every bad one must get its 4xx naming the problem, the
server must not restart and its RSS must stay within 10% of the warm-up's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from serve import VLLMServer  # noqa: E402
from soak import SERVER_ARGS, run_soak  # noqa: E402
from soak_cases import CASES  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MODEL = os.environ.get("E2E_MODEL", "qwen3_vl")
MAX_GROWTH = 0.10


def test_short_soak() -> None:
    with VLLMServer(MODEL, extra_args=SERVER_ARGS) as server:
        report = run_soak(server, requests=60, warmup=40, clients=4, time_limit_s=600)
    print(report.summary(MAX_GROWTH))
    assert not report.failures, report.summary(MAX_GROWTH)
    assert report.not_sent == 0
    assert len(report.outcomes) == 60
    # Every kind of request, good and bad, was sent at least once.
    assert {o.case for o in report.outcomes} == {c.name for c in CASES}
    assert not report.restarted
    assert report.passed(MAX_GROWTH), report.summary(MAX_GROWTH)
