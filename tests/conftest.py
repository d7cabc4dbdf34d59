# SPDX-License-Identifier: Apache-2.0
"""For the tests in tests/ (not tests/e2e/): scripts/ on sys.path, the
caller's SERIES_* settings (a moved build dir, a held lock) and pip's
configuration kept out (an empty local index instead; not for a `fresh_venv`
test, which installs from the user's index), and the working directory a
temporary one, so that a git command of a wrong tooling (or of a mutant
under `make mutation`) can never reach this checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SCRIPTS = str(TESTS.parent / "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)


@pytest.fixture(autouse=True)
def _isolated_tooling_test(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for name in ("SERIES_ROOT", "SERIES_BUILD_DIR", "SERIES_LOCK_HELD", "SERIES_PIN"):
        monkeypatch.delenv(name, raising=False)
    # pip sees only an empty file:// index of this test (tests/_index.py),
    # except in a test that installs into a fresh venv from the user's index
    from _index import isolate

    if request.node.get_closest_marker("fresh_venv") is None:
        isolate(monkeypatch, tmp_path_factory.mktemp("index"))
    # (mutmut reads its setup.cfg from the working directory; under it the
    # scratch copy is a git repository of its own, see scripts/mutation.py)
    if Path(str(request.node.path)).parent == TESTS and not os.environ.get(
        "MUTANT_UNDER_TEST"
    ):
        monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
