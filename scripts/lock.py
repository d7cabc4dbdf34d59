#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Rewrite scripts/constraints.txt from what build/venv has installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Exact versions of everything 'make build' installs into build/venv (pip
# constraints). Regenerate with 'make lock' after changing
# scripts/requirements-test.txt or the pin in VERSION.
"""


def freeze(python: Path) -> list[str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(
        (
            line
            for line in out.splitlines()
            if line and not line.startswith(("-e ", "vllm==", "vllm @"))
        ),
        key=str.lower,
    )


def main() -> int:
    python = ROOT / "build" / "venv" / "bin" / "python"
    if not python.exists():
        print("error: build/venv missing: run `make build`", file=sys.stderr)
        return 1
    lines = freeze(python)
    unpinned = [line for line in lines if "==" not in line]
    if unpinned:
        print(
            f"error: not installed from an index, cannot be pinned: {unpinned}; "
            "reinstall them with `pip install NAME==VERSION`",
            file=sys.stderr,
        )
        return 1
    (ROOT / "scripts" / "constraints.txt").write_text(HEADER + "\n".join(lines) + "\n")
    print(f"scripts/constraints.txt: {len(lines)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
