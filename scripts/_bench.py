"""Helpers shared by the bench_*.py scripts (scripts/ is on their sys.path).

Imports neither torch nor vLLM at module level: bench_keye_mrope.py must
choose the vLLM tree before anything imports `vllm`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any


def load_module(path: Path, name: str) -> ModuleType:
    """Execute the file `path` as module `name` (registered in sys.modules),
    e.g. a v0.19.1 copy of a vLLM module beside the patched one."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def vllm_env(device: str) -> Iterator[Any]:
    """A current VllmConfig and a 1-process distributed environment."""
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.distributed import (
        cleanup_dist_env_and_memory,
        init_distributed_environment,
        initialize_model_parallel,
    )

    vllm_config = VllmConfig()
    with set_current_vllm_config(vllm_config):
        init_distributed_environment(
            world_size=1,
            rank=0,
            distributed_init_method=f"file://{tempfile.mkstemp()[1]}",
            local_rank=0,
            backend="nccl" if device == "cuda" else "gloo",
        )
        initialize_model_parallel(1, 1)
        try:
            yield vllm_config
        finally:
            cleanup_dist_env_and_memory()


def sync(device: str) -> None:
    """Wait for the device's queued work (a no-op but on CUDA)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def median_ms(fn: Callable[[], Any], iters: int, warmup: int, device: str) -> float:
    """Median wall time of `iters` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
