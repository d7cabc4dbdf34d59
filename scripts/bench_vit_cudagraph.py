#!/usr/bin/env python3
"""Qwen3-VL vision tower: eager vs encoder CUDA graph, per image size.

    build/venv/bin/python scripts/bench_vit_cudagraph.py [--sizes 448x448,...]
        [--batch 1] [--iters 20] [--warmup 3] [--tiny | --model DIR]

Builds the Qwen3-VL vision tower of the installed (patched) vLLM with random
weights, at Qwen3-VL's real vision sizes by default (`--tiny`: a 2-layer
tower; `--model DIR`: the vision config and weights of a local checkpoint),
and for each image size (pixels, HxW) times:

- eager: `encoder_eager_forward` of `--batch` images of that size;
- graph: `EncoderCudaGraphManager.execute` on the same inputs, after the
  manager captured one graph per size (the budget is the size's token count,
  so each batch fits its graph exactly; preparing the replay buffers is
  included in the time, as in serving).

It prints one row per size with the median latencies, the eager/graph ratio
and the largest difference between the two outputs.

Needs a CUDA GPU: without one it prints "skipped: needs a CUDA GPU" and exits
0. `--device cpu` runs the same flow on the CPU with graphs that are not
captured (replay reruns the forward on the captured buffers), as a smoke test
of this script; its timings mean nothing. Exit status 1 if an output differs
from eager by more than --atol.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _bench import median_ms, vllm_env

DEFAULT_SIZES = "224x224,448x448,640x480,896x896,1280x720"
TINY_SIZES = "64x64,96x128"
# Qwen3-VL's vision tower with few layers, for --tiny.
TINY_VISION = dict(
    depth=2,
    hidden_size=128,
    num_heads=2,
    intermediate_size=256,
    out_hidden_size=64,
    patch_size=16,
    deepstack_visual_indexes=[0],
)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        parts = item.lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise SystemExit(f"--sizes: expected HxW items in pixels, got {item!r}")
        sizes.append((int(parts[0]), int(parts[1])))
    return sizes


def build_model(args: argparse.Namespace, device: str, dtype: Any) -> Any:
    """A Qwen3VLForConditionalGeneration holding only the vision tower (all
    that its encoder CUDA graph methods use)."""
    import torch
    from transformers.models.qwen3_vl.configuration_qwen3_vl import (
        Qwen3VLVisionConfig,
    )
    from vllm.model_executor.layers.quantization.base_config import (
        QuantizeMethodBase,
    )
    from vllm.model_executor.models.qwen3_vl import (
        Qwen3_VisionTransformer,
        Qwen3VLForConditionalGeneration,
    )
    from vllm.utils.torch_utils import set_default_torch_dtype

    if args.model is not None:
        from transformers import AutoConfig

        vision_config = AutoConfig.from_pretrained(args.model).vision_config
    else:
        vision_config = Qwen3VLVisionConfig(**(TINY_VISION if args.tiny else {}))

    torch.manual_seed(0)
    with set_default_torch_dtype(dtype), torch.device(device):
        visual = Qwen3_VisionTransformer(vision_config, prefix="visual")
    if args.model is not None:
        visual.load_weights(checkpoint_vision_weights(args.model))
    else:
        with torch.no_grad():
            for param in visual.parameters():
                param.normal_(0.0, 0.02)
    for module in visual.modules():
        quant_method = getattr(module, "quant_method", None)
        if isinstance(quant_method, QuantizeMethodBase):
            quant_method.process_weights_after_loading(module)
    visual.eval()

    model = object.__new__(Qwen3VLForConditionalGeneration)
    object.__setattr__(model, "visual", visual)
    return model


def checkpoint_vision_weights(model_dir: Path) -> Iterator[tuple[str, Any]]:
    from safetensors.torch import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise SystemExit(f"--model: no *.safetensors in {model_dir}")
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a dict
                for prefix in ("model.visual.", "visual."):
                    if name.startswith(prefix):
                        yield name[len(prefix) :], f.get_tensor(name)


def make_inputs(
    model: Any, size: tuple[int, int], batch: int, device: str, dtype: Any
) -> dict[str, Any]:
    """`batch` images of `size` pixels, resized down to whole merged patches
    (as the Qwen-VL processors do)."""
    import torch

    visual = model.visual
    unit = visual.patch_size * visual.spatial_merge_size
    h = max(unit, size[0] // unit * unit) // visual.patch_size
    w = max(unit, size[1] // unit * unit) // visual.patch_size
    grid = [[1, h, w]] * batch
    patch = visual.patch_embed
    flat = patch.proj.in_channels * patch.temporal_patch_size * visual.patch_size**2
    generator = torch.Generator().manual_seed(1)
    pixel_values = torch.randn(batch * h * w, flat, generator=generator)
    return {"pixel_values": pixel_values.to(device, dtype), "image_grid_thw": grid}


def make_manager(
    model: Any, budgets: list[int], batch: int, device: str, dtype: Any
) -> Any:
    import torch
    from vllm.v1.worker.encoder_cudagraph import EncoderCudaGraphManager

    # The parts of VllmConfig the manager reads.
    vllm_config = SimpleNamespace(
        compilation_config=SimpleNamespace(
            encoder_cudagraph_token_budgets=budgets,
            encoder_cudagraph_max_images_per_batch=batch,
        ),
        model_config=SimpleNamespace(multimodal_config=None),
        parallel_config=SimpleNamespace(tensor_parallel_size=1),
    )
    return EncoderCudaGraphManager(
        vllm_config=vllm_config,  # type: ignore[arg-type]
        device=torch.device(device),
        dtype=dtype,
        model=model,
    )


class UncapturedGraph:
    """--device cpu: stands in for torch.cuda.CUDAGraph, replay() reruns
    the forward on the tensors recorded at capture time."""

    def __init__(self, model: Any, inputs: Any, buffers: Any, out: Any) -> None:
        self.model, self.inputs, self.buffers, self.out = model, inputs, buffers, out

    def replay(self) -> None:
        self.out.copy_(self.model.encoder_cudagraph_forward(self.inputs, self.buffers))


def capture_without_cuda(manager: Any) -> None:
    import torch
    from vllm.v1.worker.encoder_cudagraph import BudgetGraphMetadata

    for budget in manager.token_budgets:
        capture = manager.model.prepare_encoder_cudagraph_capture_inputs(
            budget, manager.max_batch_size, manager.device, manager.dtype
        )
        with torch.inference_mode():
            out = manager.model.encoder_cudagraph_forward(
                capture.mm_kwargs, capture.buffers
            )
        output_buffer = torch.empty_like(out)
        manager.budget_graphs[budget] = BudgetGraphMetadata(
            token_budget=budget,
            max_batch_size=manager.max_batch_size,
            graph=UncapturedGraph(
                manager.model, capture.mm_kwargs, capture.buffers, output_buffer
            ),
            input_buffer=capture.mm_kwargs[manager.config.input_key],
            metadata_buffers=capture.buffers,
            output_buffer=output_buffer,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--tiny", action="store_true", help="2-layer random tower")
    source.add_argument("--model", type=Path, help="local Qwen3-VL checkpoint dir")
    parser.add_argument("--sizes", help=f"HxW image sizes in pixels ({DEFAULT_SIZES})")
    parser.add_argument("--batch", type=int, default=1, help="images per forward")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--atol", type=float, default=None, help="max |graph-eager|")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("skipped: needs a CUDA GPU")
        return 0
    if args.batch < 1:
        raise SystemExit("--batch must be >= 1")
    if args.device == "cpu":
        # Compiling the tower's helpers on the CPU only costs time.
        torch._dynamo.config.disable = True
    on_cpu = args.device == "cpu"
    dtype = torch.float32 if on_cpu else torch.bfloat16
    atol = args.atol if args.atol is not None else (1e-4 if on_cpu else 5e-2)
    sizes = parse_sizes(args.sizes or (TINY_SIZES if args.tiny else DEFAULT_SIZES))

    import vllm

    print(f"vllm: {vllm.__file__}; {args.device} {dtype}; batch {args.batch}")
    failed = False
    with vllm_env(args.device):
        model = build_model(args, args.device, dtype)
        inputs = [make_inputs(model, s, args.batch, args.device, dtype) for s in sizes]
        specs = [model.get_encoder_cudagraph_item_specs(x) for x in inputs]
        tokens = [sum(spec.output_tokens for spec in s) for s in specs]
        manager = make_manager(
            model, sorted(set(tokens)), args.batch, args.device, dtype
        )
        if on_cpu:
            capture_without_cuda(manager)
        else:
            manager.capture()

        header = f"{'size':>10} {'grid':>10} {'tokens':>7} {'eager ms':>9} "
        header += f"{'graph ms':>9} {'eager/graph':>11} {'max |diff|':>10}"
        print(header)
        for size, mm_kwargs, n_tokens in zip(sizes, inputs, tokens, strict=True):

            def eager(mm_kwargs: dict[str, Any] = mm_kwargs) -> Any:
                with torch.inference_mode():
                    return model.encoder_eager_forward(mm_kwargs)

            def graph(mm_kwargs: dict[str, Any] = mm_kwargs) -> Any:
                return manager.execute(mm_kwargs)

            diff = (torch.cat(graph()) - eager()).abs().max().item()
            eager_ms = median_ms(eager, args.iters, args.warmup, args.device)
            graph_ms = median_ms(graph, args.iters, args.warmup, args.device)
            _, h, w = mm_kwargs["image_grid_thw"][0]
            print(
                f"{size[0]:>4}x{size[1]:<5} {h:>4}x{w:<5} {n_tokens:>7} "
                f"{eager_ms:>9.2f} {graph_ms:>9.2f} {eager_ms / graph_ms:>10.2f}x "
                f"{diff:>10.1e}",
                flush=True,
            )
            failed |= diff > atol
        stats = manager.get_cumulative_stats()
        print(f"graph hits {stats['graph_hits']}, misses {stats['graph_misses']}")
    if failed:
        print(f"FAILED: graph output differs from eager by more than {atol}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
