#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Rewrite scripts/constraints.txt from what build/venv has installed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import subprocess  # noqa: E402

import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from pin import Layout  # noqa: E402

HEADER = """\
# Exact versions of everything 'make build' installs into build/venv (pip
# constraints). Regenerate with 'make lock' after changing
# scripts/requirements-test.txt or the pin in VERSION.
"""


def pinned(freeze_output: str) -> list[str]:
    """`pip freeze` lines to pin, sorted; SeriesError for unpinnable ones."""
    lines = sorted(
        (
            line
            for line in freeze_output.splitlines()
            if line and not line.startswith(("-e ", "vllm==", "vllm @", "#"))
        ),
        key=str.lower,
    )
    unpinned = [line for line in lines if "==" not in line]
    if unpinned:
        raise SeriesError(
            f"not installed from an index, cannot be pinned: {unpinned}; "
            "reinstall them with `pip install NAME==VERSION`"
        )
    return lines


def main() -> int:
    layout = Layout.default()
    if not layout.python.exists():
        raise SeriesError(f"{layout.venv} missing: run `make build`")
    runlock.acquire(layout.lock_file, "lock.py")
    proc = subprocess.run(
        [str(layout.python), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SeriesError(f"pip freeze failed: {proc.stderr.strip()[-200:]}")
    lines = pinned(proc.stdout)
    layout.constraints.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{layout.constraints}: {len(lines)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
