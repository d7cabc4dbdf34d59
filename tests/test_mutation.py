# SPDX-License-Identifier: Apache-2.0
"""scripts/mutation.py's reading of mutmut's results and its scratch copy."""

from __future__ import annotations

import json
from pathlib import Path

import mutation
from _tooling import ROOT
from gitrun import git_run
from pin import Layout


def test_scores_and_report(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "pin.py.meta").write_text(
        json.dumps({"exit_code_by_key": {"a": 1, "b": 0, "c": 33, "d": 36, "e": 1}})
    )
    (src / "sync.py.meta").write_text(
        json.dumps({"exit_code_by_key": {"a": 3, "b": None}})
    )
    per = mutation.scores(tmp_path)
    assert per["pin"] == {"killed": 3, "survived": 1, "other": 1}
    assert per["sync"] == {"killed": 1, "not run": 1}
    table, score = mutation.report(per)
    assert score == 4 / 6
    lines = table.splitlines()
    assert lines[0].split() == [
        "module",
        "mutants",
        "killed",
        "survived",
        "other",
        "not",
        "run",
        "score",
    ]
    assert lines[1].split() == ["pin", "5", "3", "1", "1", "0", "60.0%"]
    assert lines[2].split() == ["sync", "2", "1", "0", "0", "1", "100.0%"]
    assert lines[-1].split() == ["all", "7", "4", "1", "1", "1", "66.7%"]


def test_prepare_makes_scripts_a_source_dir(tmp_path: Path) -> None:
    layout = Layout(root=ROOT, build=tmp_path, patches=ROOT / "patches")
    work = tmp_path / "m"
    mutation.prepare(layout, work, ("pin", "sync"))
    assert (work / "src" / "series.py").is_file()
    assert (work / "scripts").resolve() == (work / "src").resolve()
    assert (work / "mutants" / "scripts").is_symlink()
    cfg = (work / "setup.cfg").read_text()
    assert "only_mutate=\n    src/pin.py\n    src/sync.py\n" in cfg
    assert "    tests/test_series.py\n" in cfg
    assert f"\ntimeout_multiplier={mutation.TIMEOUT_MULTIPLIER}\n" in cfg
    assert (work / "tests" / "test_series.py").is_file()
    # a stray git command fails there, and reaches no repository above it
    proc = git_run(work, "status", check=False)
    assert proc.returncode == 128 and "not a git repository" in proc.stderr
    assert not (work / "no-repository-here").exists()
