# SPDX-License-Identifier: Apache-2.0
"""The e2e comparison (tests/e2e/test_hf_vs_vllm.py) on hand-made
generations: what it must accept and what it must refuse (no engine)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))

pytest.importorskip("torch")
pytest.importorskip("PIL")

from test_hf_vs_vllm import Generation, check_logprobs_close  # noqa: E402

# step 0 as the tiny Qwen3-VL reports it on the red square (transformers)
STEP0 = {433: -1.5507, 249: -1.9431, 278: -2.0411, 428: -2.6521, 220: -2.7877}
STEP1 = {238: -0.9, 5: -1.5, 6: -2.0, 7: -2.5, 8: -3.0}


def gen(tokens: list[int], steps: list[dict[int, float]]) -> Generation:
    return Generation(prompt_ids=[1, 2], token_ids=tokens, text="", logprobs=steps)


def shifted(step: dict[int, float], by: float) -> dict[int, float]:
    return {t: lp + by for t, lp in step.items()}


def test_identical_generations_pass() -> None:
    check_logprobs_close(
        gen([433, 238], [STEP0, STEP1]), gen([433, 238], [STEP0, STEP1]), "x"
    )


def test_kernel_noise_passes() -> None:
    noisy = {t: lp + (5e-6 if t % 2 else -5e-6) for t, lp in STEP0.items()}
    check_logprobs_close(
        gen([433, 238], [STEP0, STEP1]), gen([433, 238], [noisy, STEP1]), "x"
    )


def test_a_tie_at_the_first_mismatch_passes_and_ends_the_check() -> None:
    tie = {**STEP0, 249: STEP0[433] - 1e-4}
    other = {**tie, 433: tie[249] - 2e-4}  # 249 now wins by 1e-4
    junk = {99: -0.1, 98: -5.0}  # after the divergence: not compared
    check_logprobs_close(
        gen([433, 238], [tie, STEP1]), gen([249, 99], [other, junk]), "x"
    )


def test_the_blank_image_control_fails() -> None:
    # transformers on a blank image: 249 first, 433 second, still in the top 5
    blank = {249: -1.4495, 433: -1.9153, 428: -2.5871, 95: -2.7004, 220: -2.7606}
    with pytest.raises(AssertionError, match="differs by"):
        check_logprobs_close(gen([249], [blank]), gen([433], [STEP0]), "x")


def test_same_token_but_moved_distribution_fails() -> None:
    moved = {**STEP0, 278: STEP0[278] + 0.05}
    with pytest.raises(AssertionError, match="token 278 differs by 0.0500"):
        check_logprobs_close(gen([433], [moved]), gen([433], [STEP0]), "x")


def test_a_shift_of_every_logprob_fails() -> None:
    with pytest.raises(AssertionError, match="differs by"):
        check_logprobs_close(
            gen([433], [shifted(STEP0, 0.02)]), gen([433], [STEP0]), "x"
        )


def test_a_mismatch_that_is_no_tie_fails() -> None:
    # both sides agree on the distribution, yet pick different tokens
    with pytest.raises(AssertionError, match="not a tie"):
        check_logprobs_close(gen([433], [STEP0]), gen([249], [STEP0]), "x")


def test_a_token_missing_from_the_other_side_fails() -> None:
    a = {**STEP0, 77: -1.8}  # likelier than b's 5th token, absent from b
    with pytest.raises(AssertionError, match="token 77 .* missing"):
        check_logprobs_close(gen([433], [a]), gen([433], [STEP0]), "x")
    b = {**STEP0, 77: -9.0}  # unlikely: its absence from a is fine
    check_logprobs_close(gen([433], [STEP0]), gen([433], [b]), "x")


def test_a_greedy_token_outside_the_other_top_k_fails() -> None:
    b = {5: -0.5, 433: -3.0, 249: -3.1}
    with pytest.raises(AssertionError, match="not in each other's top"):
        check_logprobs_close(gen([433], [STEP0]), gen([5], [b]), "x")


def test_one_side_stopping_early_fails() -> None:
    with pytest.raises(AssertionError, match="stopped early"):
        check_logprobs_close(gen([433, 238], [STEP0, STEP1]), gen([433], [STEP0]), "x")


def test_atol_is_honoured() -> None:
    a = gen([433], [shifted(STEP0, 5e-3)])
    check_logprobs_close(a, gen([433], [STEP0]), "x")
    with pytest.raises(AssertionError):
        check_logprobs_close(a, gen([433], [STEP0]), "x", atol=1e-5)
