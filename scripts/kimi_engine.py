#!/usr/bin/env python3
"""Kimi-K2.5 through the engine: pristine v0.19.1 against the patched tree.

    python scripts/kimi_engine.py MODEL_DIR --tree pristine=build/pristine \\
        --tree patched=build/vllm

Each tree runs (in a child process with PYTHONPATH=<tree>, VLLM_MLA_DISABLE=1
since the CPU backend has no MLA kernel) `LLM.generate` greedily on an image
prompt and a two-image prompt with generated images and returns the prompt
ids, the generated tokens and the top-k logprobs; the parent says whether
they are identical. Importable: `run_tree(...)`, `differences(...)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import tree_child

CHILD_TIMEOUT_S = 900.0
MAX_TOKENS = 6
TOP_K = 5
PROMPTS = {
    "one image": 1,
    "one image, other pixels": 1,
    "two images": 2,
}
# (width, height) and seed of the generated images, one list per prompt.
IMAGES = {
    "one image": [(224, 168, 0)],
    "one image, other pixels": [(224, 168, 7)],
    "two images": [(140, 280, 1), (196, 196, 2)],
}


def _prompt(num_images: int) -> str:
    media = "<|media_begin|>image<|media_content|><|media_pad|><|media_end|>"
    return (
        "<|im_user|>user<|im_middle|>"
        + media * num_images
        + "What colour is the square?<|im_end|><|im_assistant|>assistant<|im_middle|>"
    )


def _image(width: int, height: int, seed: int) -> Any:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _register_random_loader() -> str:
    """Register load format "tiny_random": vLLM's dummy loader with weights
    of a useful scale (std 1/sqrt(fan_in), norms 1 + noise, small biases),
    seeded by parameter name order, so that the logits are peaked and the
    images change them; vLLM's own dummy range (+-1e-3) gives flat logits."""
    import math

    import torch
    from vllm.model_executor.model_loader import register_model_loader
    from vllm.model_executor.model_loader.dummy_loader import DummyModelLoader

    @register_model_loader("tiny_random")
    class TinyRandomLoader(DummyModelLoader):
        def load_weights(self, model: Any, model_config: Any) -> None:
            super().load_weights(model, model_config)
            gen = torch.Generator().manual_seed(0)
            with torch.no_grad():
                for name, p in sorted(model.named_parameters()):
                    if not torch.is_floating_point(p):
                        continue
                    noise = torch.randn(p.shape, generator=gen).to(p.dtype)
                    if p.dim() >= 2:
                        p.copy_(noise / math.sqrt(math.prod(p.shape[1:])))
                    elif name.endswith("weight"):
                        p.copy_(1.0 + 0.1 * noise)
                    else:
                        p.copy_(0.1 * noise)

    return "tiny_random"


def _child(model: str) -> dict[str, Any]:
    import vllm
    from vllm import LLM, SamplingParams

    llm = LLM(
        model,
        trust_remote_code=True,
        load_format=_register_random_loader(),
        dtype="float32",
        max_model_len=2048,
        max_num_seqs=2,
        limit_mm_per_prompt={"vision_chunk": 2},
        seed=0,
    )
    params = SamplingParams(max_tokens=MAX_TOKENS, temperature=0.0, logprobs=TOP_K)
    out: dict[str, Any] = {"vllm_file": vllm.__file__}
    for name, n in PROMPTS.items():
        chunks = [
            {"type": "image", "image": _image(w, h, seed)}
            for w, h, seed in IMAGES[name]
        ]
        (res,) = llm.generate(
            {"prompt": _prompt(n), "multi_modal_data": {"vision_chunk": chunks}},
            params,
        )
        comp = res.outputs[0]
        out[name] = dict(
            prompt_ids=list(res.prompt_token_ids or []),
            tokens=list(comp.token_ids),
            logprobs=[
                {str(t): lp.logprob for t, lp in sorted(step.items())}
                for step in comp.logprobs or []
            ],
        )
    return out


def run_tree(tree: Path, model: Path) -> dict[str, Any]:
    return tree_child.run_in_tree(
        tree,
        [str(Path(__file__).resolve()), "--child", str(model)],
        env={"VLLM_MLA_DISABLE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
        timeout=CHILD_TIMEOUT_S,
    )


def run_trees(trees: dict[str, Path], model: Path) -> dict[str, dict[str, Any]]:
    """run_tree for each tree, concurrently (each is one process)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(trees)) as pool:
        futures = {
            n: pool.submit(run_tree, t, model.resolve()) for n, t in trees.items()
        }
        return {n: f.result() for n, f in futures.items()}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two runs ([] when identical)."""
    diffs = []
    for name in PROMPTS:
        for key in ("prompt_ids", "tokens", "logprobs"):
            if a[name][key] != b[name][key]:
                diffs.append(f"{name}: {key} differ")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        tree_child.emit(_child(str(args.model)))
        return 0
    if len(args.tree) != 2:
        parser.error("give two --tree NAME=PATH")
    trees = dict(spec.partition("=")[::2] for spec in args.tree)
    runs = run_trees({n: Path(p).resolve() for n, p in trees.items()}, args.model)
    (na, a), (nb, b) = runs.items()
    for name in PROMPTS:
        print(
            f"{name}: {len(a[name]['prompt_ids'])} prompt tokens, {na} {a[name]['tokens']}"
            f", {nb} {b[name]['tokens']}"
        )
    diffs = differences(a, b)
    print("identical" if not diffs else "DIFFERENT: " + "; ".join(diffs))
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
