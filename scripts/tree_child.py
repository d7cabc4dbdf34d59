"""Run a measurement in a child process on one vLLM tree (pristine or patched).

The child is `python ARGV...` with PYTHONPATH=<tree>, so `import vllm` takes
that tree. It prints one line `RESULT <json>`; the result must say which vLLM
it imported (`vllm_file`), so that a run on the wrong tree cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PREFIX = "RESULT "


def emit(result: Mapping[str, Any]) -> None:
    """In the child: hand `result` to the parent."""
    print(PREFIX + json.dumps(result), flush=True)


def run_in_tree(
    tree: Path,
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Runs `python *argv` with `tree` first on the path; returns what it emitted."""
    proc = subprocess.run(
        [sys.executable, *argv],
        env={**os.environ, **(env or {}), "PYTHONPATH": str(tree)},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{tree}: exit {proc.returncode}\n{proc.stderr[-8000:]}")
    result = dict(json.loads(lines[-1][len(PREFIX) :]))
    if not str(result.get("vllm_file", "")).startswith(str(tree)):
        raise RuntimeError(f"{tree}: imported vLLM from {result.get('vllm_file')}")
    return result
