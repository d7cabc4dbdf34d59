"""Keye-VL and Keye-VL-1.5 through the engine: pristine v0.19.1 against patched.

The Keye patches (0002, 0007-0009) change how the engine computes the M-RoPE
positions of Keye prompts. Here the tiny checkpoints (scripts/tiny_keye.py,
with remote-code config and processor) run through `vllm.LLM.generate`,
greedy, CPU, once with the pristine v0.19.1 tree (build/pristine, as `make
eval` uses it) and once with the patched tree (build/vllm), each in its own
child process (tests/e2e/keye_engine.py, one engine per model, all prompts in
one generate call). The engine's own positions are recorded by a hook on the
model's `get_mrope_input_positions` inside the engine core.

* Where v0.19.1 is right (images; Keye-VL-1.5 videos), prompt ids,
  generated tokens, the top-k token ids and positions are identical, and the
  top-k logprobs equal within LOGPROB_ATOL: a long prompt is prefilled in
  chunks, and CPU float reductions then differ by a few 1e-6 from run to run
  (seen on the 3,000-token video), while a wrong position moves them by
  1e-2 or more.
* Where v0.19.1 fails (every Keye-VL video: its per-item `video_grid_thw`
  has shape [3], which v0.19.1 indexes as [N, 3]), the test checks that the
  pristine engine raised that IndexError and that the patched engine's
  positions equal `reference_positions`, written here from the M-RoPE rule
  (not the code under test).
* In every case both trees expand the prompt identically and the patched
  positions equal the reference.

Keye-VL-1.5 takes one video per prompt (get_supported_mm_limits, unchanged
by the series), so its two-video case cannot reach the engine; the unit
tests of patch 0002 cover those positions (tests/model_executor/
test_keye_vl1_5_mrope.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_local  # noqa: E402
import keye_engine  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

RUN_TIMEOUT_S = 1200
MERGE = 2  # spatial_merge_size of the tiny checkpoints (and of real Keye)

# What v0.19.1 does with each case the engine can run; every other case it
# gets right.
V0191_RAISES = {
    ("keye", case): (
        "v0.19.1 keeps video_grid_thw[0] of the gathered per-video grids, "
        "which for Keye-VL (a batched field) is the [3]-shaped grid of the "
        "first video, and indexes it as [N, 3]"
    )
    for case in ("video", "two_videos", "interleaved", "long_video")
}
ALL_CASES = [c.name for c in keye_engine.cases("keye")]
PARAMS = [(m, c) for m in keye_engine.MODELS for c in ALL_CASES]


# ---------------------------------------------------------------------------
# Independent reference
# ---------------------------------------------------------------------------


def reference_positions(
    prompt_ids: list[int], pad_ids: set[int], blocks: list[tuple[int, int]]
) -> tuple[list[list[int]], int]:
    """M-RoPE positions of a Keye prompt, from its tokens and vision blocks.

    `blocks` holds the (h, w) LLM grid (patches / merge size) of every
    image and every video frame in prompt order. Walking the prompt: a text
    token takes the next position p on all three axes; at a pad token the
    next block starts, its h * w tokens take (p, p + row, p + column) in
    raster order, and the text after it continues at p + max(1, h, w).
    """
    positions: list[list[int]] = [[], [], []]
    pos, i, block = 0, 0, 0
    while i < len(prompt_ids):
        if prompt_ids[i] not in pad_ids:
            for axis in positions:
                axis.append(pos)
            pos, i = pos + 1, i + 1
            continue
        h, w = blocks[block]
        block += 1
        run = prompt_ids[i : i + h * w]
        assert len(run) == h * w and set(run) <= pad_ids, (
            f"block {block - 1} ({h}x{w}) does not fit the pad tokens at {i}"
        )
        for row in range(h):
            for col in range(w):
                positions[0].append(pos)
                positions[1].append(pos + row)
                positions[2].append(pos + col)
        pos, i = pos + max(1, h, w), i + h * w
    assert block == len(blocks), f"{len(blocks) - block} blocks left without pads"
    return positions, pos - len(prompt_ids)


def vision_blocks(model_dir: Path, case: keye_engine.Case) -> list[tuple[int, int]]:
    """(h, w) LLM grids of the case's images and video frames, in prompt order,
    from the checkpoint's own image processor."""
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(model_dir, trust_remote_code=True)
    blocks: list[tuple[int, int]] = []
    for item in case.content:
        if isinstance(item, str):
            continue
        if isinstance(item, np.ndarray):
            grids = processor(videos=[item])["video_grid_thw"].tolist()
            frames = [(h, w) for t, h, w in grids for _ in range(t)]
        else:
            [(t, h, w)] = processor(images=[item])["image_grid_thw"].tolist()
            frames = [(h, w)] * t
        blocks += [(h // MERGE, w // MERGE) for h, w in frames]
    return blocks


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------


def _run_tree(label: str, tree: Path, models_dir: Path, out: Path) -> dict[str, Any]:
    log = out.with_suffix(".log")
    cmd = [sys.executable, str(Path(keye_engine.__file__).resolve())]
    cmd += ["--tree", str(tree), "--models-dir", str(models_dir), "--out", str(out)]
    env = eval_local.child_env(tree)
    env["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"  # the collective_rpc hook
    t0 = time.monotonic()
    with log.open("wb") as log_f:
        # Own process group: a timeout or an interrupt ends the engine core too.
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=RUN_TIMEOUT_S)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if code != 0 or not out.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise AssertionError(f"{label} run failed (exit {code}):\n{tail}")
    result = json.loads(out.read_text(encoding="utf-8"))
    timings = ", ".join(
        f"{m}: start {r['startup_s']} s, generate {r['generate_s']} s"
        for m, r in result["models"].items()
    )
    print(
        f"{label}: {time.monotonic() - t0:.0f} s ({timings}); vllm {result['vllm_file']}"
    )
    return result


@pytest.fixture(scope="module")
def model_dirs(tiny_model: Callable[[str], Path]) -> dict[str, Path]:
    return {name: tiny_model(name) for name in keye_engine.MODELS}


@pytest.fixture(scope="module")
def runs(
    model_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    [models_dir] = {p.parent for p in model_dirs.values()}
    eval_local.ensure_pristine_tree()
    out = tmp_path_factory.mktemp("keye_engine")
    return {
        "pristine": _run_tree(
            f"pristine {eval_local.TAG}",
            eval_local.PRISTINE,
            models_dir,
            out / "pristine.json",
        ),
        "patched": _run_tree(
            "patched", eval_local.PATCHED, models_dir, out / "patched.json"
        ),
    }


def _case(model: str, name: str) -> keye_engine.Case:
    found = [c for c in keye_engine.cases(model) if c.name == name]
    if not found:
        pytest.skip(
            f"{model} takes {keye_engine.MM_LIMITS[model]['video']} video(s) per prompt "
            "(get_supported_mm_limits at v0.19.1 and in the series); the two-video "
            "positions are covered by tests/model_executor/test_keye_vl1_5_mrope.py"
        )
    return found[0]


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def test_each_tree_imported_its_own_vllm(runs: dict[str, dict[str, Any]]) -> None:
    assert Path(runs["pristine"]["vllm_file"]).is_relative_to(
        eval_local.PRISTINE.resolve()
    )
    assert Path(runs["patched"]["vllm_file"]).is_relative_to(
        eval_local.PATCHED.resolve()
    )


@pytest.mark.parametrize(
    ("model", "case_name"), PARAMS, ids=[f"{m}-{c}" for m, c in PARAMS]
)
def test_pristine_against_patched(
    runs: dict[str, dict[str, Any]],
    model_dirs: dict[str, Path],
    model: str,
    case_name: str,
) -> None:
    case = _case(model, case_name)
    pristine = runs["pristine"]["models"][model]["cases"][case_name]
    patched = runs["patched"]["models"][model]["cases"][case_name]
    label = f"{model}/{case_name}"

    # Processing is not what the patches change: same prompt in both trees.
    assert pristine["prompt_ids"] == patched["prompt_ids"], label
    assert pristine["hooked"] and patched["hooked"], (
        f"{label}: the engine did not call get_mrope_input_positions"
    )

    config = json.loads((model_dirs[model] / "config.json").read_text())
    pads = {config["image_token_id"], config["video_token_id"]}
    prompt_ids = patched["prompt_ids"]
    if model == "keye_vl1_5" and case.videos:  # frame and timestamp tokens
        vocab = json.loads((model_dirs[model] / "tokenizer.json").read_text())
        added = {t["content"]: t["id"] for t in vocab["added_tokens"]}
        num_frames = sum(len(v) for v in case.videos)
        assert prompt_ids.count(added["<|frame|>"]) == num_frames, label
        if case.fast_frames:
            assert prompt_ids.count(added["<|fast_start|>"]) == num_frames // 2, label
    if case_name == "long_video":
        num_video = sum(t == config["video_token_id"] for t in prompt_ids)
        assert num_video >= 3000, f"{label}: only {num_video} video tokens"
    want_positions, want_delta = reference_positions(
        prompt_ids, pads, vision_blocks(model_dirs[model], case)
    )

    assert patched["error"] is None, (
        f"{label}: patched engine raised {patched['error']}"
    )
    assert patched["positions"] == want_positions, (
        f"{label}: patched positions differ from the reference"
    )
    assert patched["delta"] == want_delta, label
    assert 1 <= len(patched["token_ids"]) <= keye_engine.MAX_TOKENS, label

    if (model, case_name) in V0191_RAISES:
        # v0.19.1 cannot compute the positions of this prompt: the engine core
        # dies on it (here the hook kept it alive and recorded the exception).
        assert pristine["error"] is not None, (
            f"{label}: v0.19.1 was expected to fail ({V0191_RAISES[model, case_name]}) "
            "but computed positions"
        )
        assert pristine["error"].startswith("IndexError: too many indices"), (
            f"{label}: {pristine['error']}"
        )
        return

    # v0.19.1 is right here: the patched engine must behave exactly the same.
    assert pristine["error"] is None, f"{label}: v0.19.1 raised {pristine['error']}"
    assert pristine["positions"] == want_positions, label
    assert pristine["delta"] == want_delta, label
    assert pristine["token_ids"] == patched["token_ids"], label
    assert_same_logprobs(pristine["logprobs"], patched["logprobs"], label)


LOGPROB_ATOL = 1e-4


def assert_same_logprobs(a: list, b: list, label: str) -> None:
    """Same top-k token ids at every step, logprobs within LOGPROB_ATOL."""
    assert len(a) == len(b), label
    for step, (sa, sb) in enumerate(zip(a, b, strict=True)):
        assert [t for t, _ in sa] == [t for t, _ in sb], f"{label}: step {step}"
        worst = max(abs(la - lb) for (_, la), (_, lb) in zip(sa, sb, strict=True))
        assert worst <= LOGPROB_ATOL, f"{label}: step {step} logprobs {worst:.2e} apart"


def test_same_logprobs_tolerates_float_noise_only() -> None:
    base = [[[57, -4.2842020], [92, -0.1466297]]]
    assert_same_logprobs(base, [[[57, -4.2842040], [92, -0.1466298]]], "noise")
    with pytest.raises(AssertionError, match="apart"):
        assert_same_logprobs(base, [[[57, -4.2942020], [92, -0.1466297]]], "moved")
    with pytest.raises(AssertionError, match="step 0"):
        assert_same_logprobs(base, [[[58, -4.2842020], [92, -0.1466297]]], "ids")


def test_reference_positions_by_hand() -> None:
    """The reference on a prompt small enough to check by eye."""
    pad = 9
    # text, a 2x3 block, text, a 1x1 block, text
    ids = [1, 2, pad, pad, pad, pad, pad, pad, 3, pad, 4]
    positions, delta = reference_positions(ids, {pad}, [(2, 3), (1, 1)])
    assert positions == [
        [0, 1, 2, 2, 2, 2, 2, 2, 5, 6, 7],
        [0, 1, 2, 2, 2, 3, 3, 3, 5, 6, 7],
        [0, 1, 2, 3, 4, 2, 3, 4, 5, 6, 7],
    ]
    assert delta == 8 - len(ids)
    with pytest.raises(AssertionError, match="does not fit"):
        reference_positions(ids, {pad}, [(3, 3), (1, 1)])
