"""Fixtures for the end-to-end tests: tiny checkpoints built offline.

The checkpoints are built by scripts/tiny_models.py into build/models (or
$TINY_MODELS_DIR) once and reused; building one takes a few seconds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return Path(os.environ.get("TINY_MODELS_DIR", ROOT / "build" / "models"))


@pytest.fixture(scope="session")
def tiny_model(models_dir: Path) -> Callable[[str], Path]:
    """`tiny_model(name)` returns the directory of checkpoint `name`, built if needed."""

    def get(name: str) -> Path:
        return tiny_models.make_model(name, models_dir / name)

    return get


@pytest.fixture(scope="session", autouse=True)
def _cpu_engine_env() -> None:
    # A small KV cache (GiB) is plenty for a few short prompts and keeps
    # the engine's memory low on shared machines.
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
