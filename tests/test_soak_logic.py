"""The soak test's own logic, without a server: the request mix, the checks
of each answer and the pass/fail rule."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

pytest.importorskip("av")
pytest.importorskip("psutil")

from soak import MAX_TOKENS, Outcome, SoakReport, check_response  # noqa: E402
from soak_cases import BAD_CASES, CASES, GOOD_CASES, schedule  # noqa: E402


def _ok_body(completion_tokens: int = 2) -> bytes:
    return json.dumps(
        {
            "choices": [{"message": {"content": "red"}}],
            "usage": {"completion_tokens": completion_tokens},
        }
    ).encode()


def _error_body(message: str) -> bytes:
    return json.dumps({"error": {"message": message}}).encode()


def test_schedule_sends_every_case_first_then_is_seeded() -> None:
    sched = schedule(50, seed=3)
    assert len(sched) == 50
    assert sched[: len(CASES)] == list(CASES)
    assert schedule(50, seed=3) == sched
    assert schedule(50, seed=4) != sched
    with pytest.raises(ValueError, match=">= 1"):
        schedule(0, seed=0)


def test_cases_build_fresh_media_each_time() -> None:
    image = GOOD_CASES[0]
    assert image.name == "image"
    a = image.build(random.Random(1))
    b = image.build(random.Random(2))
    assert a[0]["image_url"]["url"] != b[0]["image_url"]["url"]


def test_good_answer_checks() -> None:
    good = GOOD_CASES[0]
    assert check_response(good, 200, _ok_body()) == ""
    assert "expected HTTP 200" in check_response(good, 500, b"boom")
    assert "bad usage" in check_response(good, 200, _ok_body(MAX_TOKENS + 1))
    assert "no completion" in check_response(good, 200, b'{"choices": []}')


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_answer_must_be_its_4xx_naming_the_problem(case) -> None:
    named = " / ".join(case.words) + " is wrong"
    assert check_response(case, case.status, _error_body(named)) == ""
    assert "does not name" in check_response(
        case, case.status, _error_body("Internal error")
    )
    # A 5xx (e.g. 501 for NotImplementedError) is not accepted.
    assert "expected HTTP 400" in check_response(case, 501, _error_body(named))
    assert "expected HTTP 400" in check_response(case, 200, _ok_body())


def test_pass_rule() -> None:
    ok = [Outcome("image", True, 200, 0.1)]
    base = dict(outcomes=ok, rss_after_warmup=1000, rss_at_end=1100)
    assert SoakReport(**base).passed(0.10)
    assert not SoakReport(**{**base, "rss_at_end": 1101}).passed(0.10)
    assert not SoakReport(**{**base, "restarted": "exited"}).passed(0.10)
    assert not SoakReport(**{**base, "not_sent": 1}).passed(0.10)
    bad = [*ok, Outcome("video", False, 500, 0.1, "boom")]
    assert not SoakReport(**{**base, "outcomes": bad}).passed(0.10)
    # Never measured (warm-up failed): not a pass.
    assert not SoakReport(outcomes=ok).passed(0.10)
    summary = SoakReport(**base).summary(0.10)
    assert "growth +10.0%" in summary and "soak: PASS" in summary
