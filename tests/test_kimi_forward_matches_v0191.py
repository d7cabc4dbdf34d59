"""The patched Kimi-K2.5 vision tower computes what v0.19.1's computes.

kimi_k25_vit.py of the tag (`git show v0.19.1:...` in build/vllm) and the
patched one (build/vllm's working copy) are loaded side by side in one
build/venv process (scripts/bench_kimi_vit.py's loader), built with the same
random weights, and run on the CPU on the same images and video chunks: the
outputs must be equal, with grid_thws given as a tensor (as v0.19.1 takes it)
and as a list (new in the patch).

The comparison runs in a subprocess of build/venv/bin/python, so this test
works under any interpreter; it is skipped only if build/vllm or build/venv
is missing. KIMI_VIT_TREE=<vLLM tree> compares that tree's kimi_k25_vit.py
instead of build/vllm's (e.g. a worktree holding the patch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_VLLM = ROOT / "build" / "vllm"
VENV_PY = ROOT / "build" / "venv" / "bin" / "python"
TREE = Path(os.environ.get("KIMI_VIT_TREE", BUILD_VLLM))

# (t, h, w) in patches: interpolated and native (4x4) position embeddings,
# several frames, a single item, and many items in one batch.
GRIDS = {
    "mixed": [[1, 4, 6], [2, 4, 4], [1, 2, 2]],
    "video_chunk": [[4, 6, 4]],
    "many_items": [[1, 2, 2]] * 9 + [[3, 4, 8]],
}


def compare() -> dict[str, Any]:
    """Runs in build/venv: max |v0.19.1 - patched| per grid."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_kimi_vit as bench

    torch._dynamo.config.disable = True  # eager get_rope_shape, on both sides
    report: dict[str, Any] = {"grids": {}}
    with tempfile.TemporaryDirectory() as workdir, bench.vllm_env("cpu") as cfg:
        modules = bench.load_side_by_side(TREE, Path(workdir))
        report["patched_has_metadata"] = hasattr(
            modules["patched"].MoonViT3dPretrainedModel, "prepare_encoder_metadata"
        )
        if not report["patched_has_metadata"]:
            return report
        towers = bench.build_towers(
            modules, cfg, "auto", bench.TINY_SIZES, "cpu", torch.float32
        )
        for name, grid in GRIDS.items():
            inputs = bench.pixel_values(
                grid, bench.TINY_SIZES["patch_size"], "cpu", torch.float32
            )
            with torch.inference_mode():
                expected = towers[bench.TAG](inputs, torch.tensor(grid))
                outputs = {
                    "tensor": towers["patched"](inputs, torch.tensor(grid)),
                    "list": towers["patched"](inputs, grid),
                }
            report["grids"][name] = {
                "shapes": [list(o.shape) for o in expected],
                "finite": all(bool(torch.isfinite(o).all()) for o in expected),
                **{
                    kind: {
                        "shapes": [list(o.shape) for o in out],
                        "max_abs_diff": max(
                            (a - b).abs().max().item() for a, b in zip(expected, out)
                        ),
                    }
                    for kind, out in outputs.items()
                },
            }
    return report


@pytest.mark.skipif(
    not (BUILD_VLLM / ".git").exists() or not VENV_PY.exists(),
    reason="needs build/vllm and build/venv (make build)",
)
def test_kimi_vit_forward_matches_v0191() -> None:
    proc = subprocess.run(
        [str(VENV_PY), __file__],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if not report["patched_has_metadata"]:
        pytest.skip(f"{TREE} does not have the Kimi-K2.5 ViT metadata patch")
    assert report["grids"].keys() == GRIDS.keys()
    for name, result in report["grids"].items():
        # One output per item: (h/2 * w/2, 2*2, hidden).
        assert result["shapes"] == [[h * w // 4, 4, 32] for _, h, w in GRIDS[name]]
        assert result["finite"], name
        for kind in ("tensor", "list"):
            assert result[kind]["shapes"] == result["shapes"], (name, kind)
            assert result[kind]["max_abs_diff"] == 0.0, (name, kind, result)


if __name__ == "__main__":
    print(json.dumps(compare()))
