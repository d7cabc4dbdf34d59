"""Kimi-K2.5 through the engine on CPU: pristine v0.19.1 against the patched
tree, greedy, image and two-image prompts (scripts/kimi_engine.py).

Patch 0005 (FlashInfer ViT metadata) must not change outputs: prompt ids,
generated tokens and top-k logprobs are identical. The tiny checkpoint
(scripts/tiny_kimi.py) runs its DeepSeek-V3 text model with
VLLM_MLA_DISABLE=1, since the CPU backend of v0.19.1 has no MLA kernel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import eval_local  # noqa: E402
import kimi_engine  # noqa: E402
import tiny_kimi  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

PATCHED = Path(os.environ.get("KIMI_PATCHED_TREE", ROOT / "build" / "vllm"))


def test_pristine_and_patched_generate_identically(tiny_model) -> None:
    model = tiny_model("kimi_k25")
    eval_local.ensure_pristine_tree()
    runs = kimi_engine.run_trees(
        {"pristine": eval_local.PRISTINE, "patched": PATCHED}, model
    )
    pristine, patched = runs["pristine"], runs["patched"]
    config = json.loads((model / "config.json").read_text())
    media_id = config["media_placeholder_token_id"]
    proc = tiny_kimi.IMAGE_PROCESSOR
    merge = proc["merge_kernel_size"][0] * proc["merge_kernel_size"][1]
    for name, images in kimi_engine.IMAGES.items():
        run = patched[name]
        # Each image became its placeholder tokens: (h/14)(w/14)/4 of them,
        # derived here from the resize rule (multiples of 28 px, <= 256 patches).
        expected = 0
        for w, h, _ in images:
            scale = min(1.0, (proc["in_patch_limit"] * 14 * 14 / (w * h)) ** 0.5)
            gh, gw = int(h * scale / 28) * 2, int(w * scale / 28) * 2
            expected += gh * gw // merge
        assert run["prompt_ids"].count(media_id) == expected, name
        assert len(run["tokens"]) == kimi_engine.MAX_TOKENS
        assert all(len(step) >= kimi_engine.TOP_K for step in run["logprobs"])
    # The images reach the logits: other pixels, other logprobs.
    assert (
        patched["one image"]["logprobs"]
        != patched["one image, other pixels"]["logprobs"]
    )
    assert kimi_engine.differences(pristine, patched) == []
