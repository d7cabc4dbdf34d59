#!/usr/bin/env python3
"""Nano Nemotron VL: per-item token maxima and encoder cache size, per vLLM tree.

    python scripts/nano_maxima.py MODEL_DIR --tree pristine=build/pristine \\
        --tree upstream=PATH --tree ours=build/vllm [--max-model-len 4096]

For the same deployment settings, each tree computes (in a child process
with PYTHONPATH=<tree>) what its engine computes when it starts: vLLM's own
MultiModalBudget gives the maximum number of tokens of one item per modality
and the encoder cache size (in tokens) the scheduler allocates. Prints a
Markdown table; importable: `measure_tree(...)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import tree_child

CHILD_TIMEOUT_S = 600.0


def settings(max_model_len: int, max_num_tiles: int) -> dict[str, Any]:
    """The deployment: EngineArgs of the tiny checkpoint (dummy weights)."""
    return dict(
        trust_remote_code=True,
        load_format="dummy",
        max_model_len=max_model_len,
        limit_mm_per_prompt={"image": 2, "video": 1},
        mm_processor_kwargs={"max_num_tiles": max_num_tiles},
        media_io_kwargs={"video": {"num_frames": 8}},
        # Pristine v0.19.1 cannot process Nano's dummy inputs through the
        # processor cache (NanoNemotronVLProcessor has no _merge_kwargs).
        mm_processor_cache_gb=0,
    )


def _child(model: str, engine_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Runs inside the tree: what its engine computes at start-up."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.multimodal import MULTIMODAL_REGISTRY
    from vllm.multimodal.encoder_budget import MultiModalBudget

    import vllm

    config = EngineArgs(model=model, **engine_kwargs).create_engine_config()
    budget = MultiModalBudget(config, MULTIMODAL_REGISTRY)
    return dict(
        vllm_file=vllm.__file__,
        max_tokens_per_item=dict(budget.mm_max_toks_per_item),
        encoder_cache_size=budget.encoder_cache_size,
        max_num_batched_tokens=config.scheduler_config.max_num_batched_tokens,
    )


def measure_tree(tree: Path, model: Path, engine_kwargs: dict[str, Any]) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "import nano_maxima, tree_child; "
        "tree_child.emit(nano_maxima._child(sys.argv[2], json.loads(sys.argv[3])))"
    )
    return tree_child.run_in_tree(
        tree,
        ["-c", code, str(Path(__file__).parent), str(model), json.dumps(engine_kwargs)],
        timeout=CHILD_TIMEOUT_S,
    )


def table(results: dict[str, dict[str, Any]]) -> str:
    modalities = sorted({m for r in results.values() for m in r["max_tokens_per_item"]})
    head = ["tree", *(f"max {m} tokens" for m in modalities), "encoder cache"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        per = r["max_tokens_per_item"]
        cells = [name, *(str(per.get(m, "-")) for m in modalities)]
        rows.append("| " + " | ".join([*cells, str(r["encoder_cache_size"])]) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--max-num-tiles", type=int, default=4)
    args = parser.parse_args(argv)
    kwargs = settings(args.max_model_len, args.max_num_tiles)
    trees = dict(spec.partition("=")[::2] for spec in args.tree)
    results = {
        n: measure_tree(Path(p).resolve(), args.model.resolve(), kwargs)
        for n, p in trees.items()
    }
    print(f"settings: {json.dumps(kwargs)}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
