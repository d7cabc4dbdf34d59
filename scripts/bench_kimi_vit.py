#!/usr/bin/env python3
"""Kimi-K2.5 vision tower: v0.19.1 vs patched, latency and device syncs.

    build/venv/bin/python scripts/bench_kimi_vit.py [--layers 27] [--iters 20]
        [--grid 1x32x32,4x32x32] [--backends auto,FLASHINFER] [--tree build/vllm]

Loads kimi_k25_vit.py of the tag (`git show v0.19.1:...` in the tree) and the
patched one (the tree's working copy) side by side in one process, builds
both towers with the same random weights (Kimi-K2.5's vision sizes by
default) and, for each ViT attention backend ("auto" is the platform's
choice), measures the forward latency and counts the device syncs of one
forward with torch.cuda.set_sync_debug_mode("warn"). v0.19.1 gets grid_thws
on the GPU, as its processor delivered it; the patched tower gets it on the
CPU (keep_on_cpu=True). v0.19.1 is expected to fail with FLASHINFER: that is
the bug the patch fixes.

Needs a CUDA GPU: without one it prints "skipped: needs a CUDA GPU" and exits
0. `--device cpu --tiny` runs the same flow on the CPU with a tiny tower (no
sync counting) as a smoke test of this script. Exit status 1 if the patched
tower fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from _bench import load_module, median_ms, vllm_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pin import Layout, Pin  # noqa: E402

_LAYOUT = Layout.default()  # where the series and its build live
DEFAULT_TREE = _LAYOUT.tree
TAG = Pin.load(_LAYOUT.version_file).tag
VIT_PATH = "vllm/model_executor/models/kimi_k25_vit.py"
# Kimi-K2.5's vision tower (KimiK25VisionConfig defaults).
FULL_SIZES = dict(
    patch_size=14, hidden_size=1152, heads=16, layers=27, mlp=4304, pos_emb=64
)
TINY_SIZES = dict(patch_size=2, hidden_size=32, heads=2, layers=2, mlp=64, pos_emb=4)
DEFAULT_GRID = "1x32x32,1x32x32,1x24x40,4x32x32"
TINY_GRID = "1x4x6,2x4x4,1x2x2"


def load_side_by_side(tree: Path, workdir: Path) -> dict[str, ModuleType]:
    """{"v0.19.1": the tag's kimi_k25_vit, "patched": the tree's}."""
    import gitrun  # the tooling's one hermetic git runner

    source = gitrun.git(tree, "show", f"{TAG}:{VIT_PATH}")
    pristine = workdir / "kimi_k25_vit_v0_19_1.py"
    pristine.write_text(source)
    return {
        TAG: load_module(pristine, "kimi_k25_vit_v0_19_1"),
        "patched": load_module(tree / VIT_PATH, "kimi_k25_vit_patched"),
    }


def parse_grid(text: str) -> list[list[int]]:
    grid = [[int(n) for n in item.split("x")] for item in text.split(",")]
    if any(len(thw) != 3 or min(thw) < 1 for thw in grid):
        raise SystemExit(f"--grid: expected TxHxW items, got {text!r}")
    return grid


def build_towers(
    modules: dict[str, ModuleType],
    vllm_config: Any,
    backend: str,
    sizes: dict[str, int],
    device: str,
    dtype: Any,
) -> dict[str, Any]:
    """One tower per module, same random weights, ViT backend `backend`."""
    import torch

    from vllm.config.multimodal import MultiModalConfig
    from vllm.model_executor.layers.quantization.base_config import (
        QuantizeMethodBase,
    )
    from vllm.transformers_utils.configs.kimi_k25 import KimiK25VisionConfig
    from vllm.utils.torch_utils import set_default_torch_dtype

    config = KimiK25VisionConfig(
        patch_size=sizes["patch_size"],
        init_pos_emb_height=sizes["pos_emb"],
        init_pos_emb_width=sizes["pos_emb"],
        num_attention_heads=sizes["heads"],
        num_hidden_layers=sizes["layers"],
        hidden_size=sizes["hidden_size"],
        intermediate_size=sizes["mlp"],
    )
    override = None if backend == "auto" else backend
    vllm_config.model_config = SimpleNamespace(
        multimodal_config=MultiModalConfig(mm_encoder_attn_backend=override)
    )
    towers: dict[str, Any] = {}
    try:
        with set_default_torch_dtype(dtype):
            for name, module in modules.items():
                towers[name] = module.MoonViT3dPretrainedModel(config)
    finally:
        vllm_config.model_config = None

    generator = torch.Generator().manual_seed(0)
    first, *others = towers.values()
    with torch.no_grad():
        for param in first.parameters():
            param.copy_(0.05 * torch.randn(param.shape, generator=generator))
    for tower in others:
        tower.load_state_dict(first.state_dict(), strict=True)
    for name, tower in towers.items():
        tower = tower.to(device=device, dtype=dtype).eval()
        for layer in tower.modules():
            quant_method = getattr(layer, "quant_method", None)
            if isinstance(quant_method, QuantizeMethodBase):
                quant_method.process_weights_after_loading(layer)
        towers[name] = tower
    return towers


def pixel_values(
    grid: list[list[int]], patch_size: int, device: str, dtype: Any
) -> Any:
    import torch

    num_patches = sum(t * h * w for t, h, w in grid)
    generator = torch.Generator().manual_seed(1)
    values = torch.randn(num_patches, 3, patch_size, patch_size, generator=generator)
    return values.to(device=device, dtype=dtype)


def count_syncs(fn: Callable[[], Any]) -> int:
    """Device syncs of one call, as flagged by the CUDA sync debug mode."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@dataclass
class Result:
    ms: float | None = None
    syncs: int | None = None
    error: str | None = None
    output: Any = None


def run(tower: Any, inputs: Any, grid: Any, args: argparse.Namespace) -> Result:
    import torch

    def forward() -> Any:
        with torch.inference_mode():
            return tower(inputs, grid)

    try:
        output = torch.cat(forward()).float().cpu()
        ms = median_ms(forward, args.iters, args.warmup, args.device)
        syncs = count_syncs(forward) if args.device == "cuda" else None
    except Exception as e:  # noqa: BLE001 - v0.19.1 + FLASHINFER is expected to fail
        return Result(error=f"{type(e).__name__}: {str(e).splitlines()[0][:100]}")
    return Result(ms=ms, syncs=syncs, output=output)


def describe(result: Result) -> str:
    if result.error is not None:
        return f"fails ({result.error})"
    syncs = "n/a" if result.syncs is None else str(result.syncs)
    return f"{result.ms:8.2f} ms, {syncs:>3} syncs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=DEFAULT_TREE)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny tower and grid")
    parser.add_argument("--layers", type=int, help="encoder layers (default 27)")
    parser.add_argument("--grid", help=f"TxHxW items in patches ({DEFAULT_GRID})")
    parser.add_argument("--backends", default=None, help="auto,FLASHINFER on CUDA")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("skipped: needs a CUDA GPU")
        return 0
    if args.device == "cpu":
        # get_rope_shape is torch.compile'd: compiling on the CPU only costs time.
        torch._dynamo.config.disable = True

    sizes = dict(TINY_SIZES if args.tiny else FULL_SIZES)
    if args.layers is not None:
        sizes["layers"] = args.layers
    grid = parse_grid(args.grid or (TINY_GRID if args.tiny else DEFAULT_GRID))
    default_backends = "auto,FLASHINFER" if args.device == "cuda" else "auto"
    backends = (args.backends or default_backends).split(",")
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32

    import vllm

    print(f"vllm: {vllm.__file__}; tree: {args.tree}")
    print(f"tower: {sizes}; grid_thws: {grid}; {args.device} {dtype}")
    failed = False
    with tempfile.TemporaryDirectory() as workdir, vllm_env(args.device) as cfg:
        modules = load_side_by_side(args.tree, Path(workdir))
        for backend in backends:
            towers = build_towers(modules, cfg, backend, sizes, args.device, dtype)
            chosen = towers["patched"].encoder.blocks[0].attn.attn_backend.name
            inputs = pixel_values(grid, sizes["patch_size"], args.device, dtype)
            grid_cpu = torch.tensor(grid)
            before = run(towers[TAG], inputs, grid_cpu.to(args.device), args)
            after = run(towers["patched"], inputs, grid_cpu, args)
            line = f"{backend} ({chosen}): {TAG} {describe(before)} | "
            line += f"patched {describe(after)}"
            if before.output is not None and after.output is not None:
                diff = (before.output - after.output).abs().max().item()
                line += f" | max |diff| {diff:.1e}"
            print(line, flush=True)
            failed |= after.error is not None
            del towers
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
