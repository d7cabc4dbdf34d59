# SPDX-License-Identifier: Apache-2.0
"""Edge cases of the git tree and its sync with patches/ (scripts/tree.py,
sync.py, gitrun.py, patchfile.py) on small synthetic trees, under the same
hostile git config as tests/test_series.py: backups named by the time,
the interrupted-apply marker, conflicts, the sync record, git's runner."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _tooling import (
    SOURCE,
    TAG,
    commit,
    git,
    hostile_git_config,
    make_layout,
    make_pin,
    make_sdist,
)

import runlock
import series
import sync
import tree
from errors import SeriesError
from patchfile import patch_files
from pin import Layout, Pin

Env = tuple[Layout, Pin]


@pytest.fixture(autouse=True)
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in hostile_git_config(tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "nowhere-index"))
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    sdist = tmp_path / "upstream" / "pkg-0.0.1.tar.gz"
    return make_layout(tmp_path), make_pin(sdist, make_sdist(sdist, SOURCE))


def applied(layout: Layout, pin: Pin, n: int = 2) -> list[Path]:
    """The tree made by `make apply`, `n` commits exported to patches/."""
    series.apply(layout, pin)
    for i in range(n):
        commit(layout.tree, f"pkg/new{i}.py", f"v = {i}\n", f"[Model] Change {i}")
    sync.export(layout.tree, pin.tag, layout.patches)
    return patch_files(layout.patches)


# ------------------------------------------------------------------- backups


def backup_refs(t: Path) -> list[str]:
    return git(t, "for-each-ref", "--format=%(refname)", "refs/backups/").split()


def test_backup_refs_are_named_by_the_time_and_never_overwritten(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = env
    applied(layout, pin)
    fixed = time.struct_time((2026, 1, 2, 3, 4, 5, 4, 2, 0))

    class Clock:
        @staticmethod
        def strftime(fmt: str) -> str:
            return time.strftime(fmt, fixed)

    monkeypatch.setattr(sync, "time", Clock)
    head = git(layout.tree, "rev-parse", "HEAD").strip()
    assert sync.backup(layout.tree, stash_dirty=False) == (
        "refs/backups/apply-20260102-030405"
    )
    # Two more in the same second: numbered from 2, the first ones kept.
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    second = git(layout.tree, "rev-parse", "HEAD").strip()
    assert sync.backup(layout.tree, stash_dirty=False).endswith("-030405-2")
    assert sync.backup(layout.tree, stash_dirty=False).endswith("-030405-3")
    assert backup_refs(layout.tree) == [
        "refs/backups/apply-20260102-030405",
        "refs/backups/apply-20260102-030405-2",
        "refs/backups/apply-20260102-030405-3",
    ]
    assert git(layout.tree, "rev-parse", "refs/backups/apply-20260102-030405") == (
        head + "\n"
    )
    assert git(layout.tree, "rev-parse", "refs/backups/apply-20260102-030405-2") == (
        second + "\n"
    )


def test_backup_stashes_only_when_asked_and_dirty(env: Env) -> None:
    layout, pin = env
    applied(layout, pin, 1)
    assert "stash" not in sync.backup(layout.tree, stash_dirty=True)
    (layout.tree / "README.md").write_text("mine\n")
    assert "stash" not in sync.backup(layout.tree, stash_dirty=False)
    assert (layout.tree / "README.md").read_text() == "mine\n"
    assert sync.backup(layout.tree, stash_dirty=True).endswith(" and stash@{0}")
    assert (layout.tree / "README.md").read_text() == "pristine\n"


# ------------------------------------------------- the interrupted-apply mark


def test_ensure_applies_a_tree_an_apply_left_marked(env: Env) -> None:
    layout, pin = env
    applied(layout, pin)
    marker = tree.git_dir(layout.tree) / tree.APPLYING_FILE
    assert sync.ensure(layout.tree, TAG, layout.patches) is None
    marker.write_text("make apply\n")
    # Up to date otherwise: only the marker says the last apply did not end.
    assert sync.ensure(layout.tree, TAG, layout.patches) == "apply"
    out = series.ensure(layout, pin)
    assert "recovered from an interrupted apply" in out
    assert not marker.exists()
    assert sync.ensure(layout.tree, TAG, layout.patches) is None


def test_backup_stashes_untracked_files_too(env: Env) -> None:
    layout, pin = env
    applied(layout, pin, 1)
    (layout.tree / "notes.txt").write_text("untracked work\n")
    kept = sync.backup(layout.tree, stash_dirty=True)
    assert kept.endswith(" and stash@{0}")
    assert not (layout.tree / "notes.txt").exists()
    assert "notes.txt" in git(
        layout.tree, "stash", "show", "--include-untracked", "--name-only"
    )


def test_a_forced_apply_that_fails_has_kept_head_first(env: Env) -> None:
    layout, pin = env
    applied(layout, pin)
    head = git(layout.tree, "rev-parse", "HEAD").strip()
    gd = tree.git_dir(layout.tree)
    # A tree stuck mid-`git am` whose index another git holds: nothing can
    # be reset, but HEAD is in refs/backups/ before the one-line failure.
    (gd / "rebase-apply").mkdir()
    (gd / "index.lock").write_text("")
    with pytest.raises(SeriesError, match="git reset failed: .*index.lock"):
        series.apply(layout, pin, force=True)
    refs = git(layout.tree, "for-each-ref", "--format=%(objectname)", "refs/backups/")
    assert refs.split() == [head]


def test_a_failed_am_leaves_the_working_tree_untouched(env: Env) -> None:
    layout, pin = env
    applied(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    (tree.git_dir(layout.tree) / "index.lock").write_text("")
    with pytest.raises(SeriesError, match=r"0002-.*: git am failed: .*index.lock"):
        series.apply(layout, pin)
    # Finding the conflicting files only checks the patch, never applies it.
    assert not (layout.tree / "pkg" / "new1.py").exists()
