# SPDX-License-Identifier: Apache-2.0
"""Puts scripts/ on sys.path for the tooling tests (imported before them)."""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = str(Path(__file__).resolve().parent.parent / "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)
