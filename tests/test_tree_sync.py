# SPDX-License-Identifier: Apache-2.0
"""Edge cases of the git tree and its sync with patches/ (scripts/tree.py,
sync.py, gitrun.py, patchfile.py) on small synthetic trees, under the same
hostile git config as tests/test_series.py: backups named by the time,
the interrupted-apply marker, conflicts, the sync record, git's runner."""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from pathlib import Path

import pytest
from _tooling import (
    SOURCE,
    TAG,
    commit,
    git,
    use_hostile_git,
    make_layout,
    make_pin,
    make_sdist,
)

import gitrun
import series
import sync
import tree
from errors import SeriesError
from patchfile import patch_files, subject_of
from pin import Layout, Pin

Env = tuple[Layout, Pin]


@pytest.fixture(autouse=True)
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_hostile_git(tmp_path, monkeypatch)


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


# ------------------------------------------------------------------- export


def test_export_into_a_new_nested_directory(env: Env, tmp_path: Path) -> None:
    layout, pin = env
    applied(layout, pin)
    out = tmp_path / "elsewhere" / "series" / "patches"
    assert sync.export(layout.tree, TAG, out) == (
        "patches/: 2 patch(es), 2 written, 0 removed"
    )
    assert [p.read_bytes() for p in patch_files(out)] == [
        p.read_bytes() for p in patch_files(layout.patches)
    ]


def test_uncommitted_changes_are_named_five_at_most(env: Env) -> None:
    layout, pin = env
    applied(layout, pin)
    for i in range(7):
        (layout.tree / f"d{i}.txt").write_text("wip\n")
    five = "(d0.txt, d1.txt, d2.txt, d3.txt, d4.txt)"
    with pytest.raises(SeriesError) as e:
        sync.export(layout.tree, TAG, layout.patches)
    assert f"has uncommitted changes {five}: commit them" in str(e.value)
    with pytest.raises(SeriesError) as e:
        series.apply(layout, pin)
    assert f"has uncommitted changes {five[:-1]} ...): commit them" in str(e.value)
    for i in range(2, 7):
        (layout.tree / f"d{i}.txt").unlink()
    with pytest.raises(SeriesError) as e:
        series.apply(layout, pin)
    assert "has uncommitted changes (d0.txt, d1.txt): commit them" in str(e.value)


def test_export_names_three_pulled_patches_at_most(env: Env) -> None:
    layout, pin = env
    patches = applied(layout, pin, 4)
    for p in patches:  # a pull that rewrote every patch
        p.write_text(p.read_text().replace("Why this change.", "Why, pulled."))
    names = [p.name for p in patches]
    with pytest.raises(SeriesError) as e:
        sync.export(layout.tree, TAG, layout.patches)
    assert str(e.value).endswith(
        f"`make export` would delete or overwrite {', '.join(names[:3])} ...; "
        "run `make apply` first"
    )
    patches[3].write_text(
        patches[3].read_text().replace("Why, pulled.", "Why this change.")
    )
    with pytest.raises(SeriesError) as e:
        sync.export(layout.tree, TAG, layout.patches)
    assert str(e.value).endswith(
        f"would delete or overwrite {', '.join(names[:3])}; run `make apply` first"
    )


# ------------------------------------------------------ apply's refusals/lines


def test_apply_names_three_local_commits_and_counts_all(env: Env) -> None:
    layout, pin = env
    applied(layout, pin)
    for i in range(4):
        commit(layout.tree, f"pkg/l{i}.py", "x\n", f"[Model] L{i}")
    with pytest.raises(SeriesError) as e:
        series.apply(layout, pin)
    assert str(e.value) == (
        f"{layout.tree} has 4 commit(s) that patches/ does not carry "
        "([Model] L0; [Model] L1; [Model] L2): run `make export` to keep them, "
        "or `make apply FORCE=1` to discard them (kept under refs/backups/)"
    )


def test_apply_lines(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    layout, pin = env
    applied(layout, pin)
    monkeypatch.setattr(sync.time, "strftime", lambda fmt: "STAMP")
    assert sync.apply(layout.tree, TAG, layout.patches) == (
        f"{layout.tree}: {TAG} + 2 patch(es), already up to date"
    )
    git(layout.tree, "reset", "-q", "--hard", TAG)
    assert sync.apply(layout.tree, TAG, layout.patches) == (
        f"{layout.tree}: {TAG} + 2 patch(es), applied 2 now"
    )
    p = patch_files(layout.patches)[1]
    p.write_text(p.read_text().replace("[Model] Change 1", "[Model] Change one"))
    (tree.git_dir(layout.tree) / tree.APPLYING_FILE).write_text("make apply\n")
    assert sync.apply(layout.tree, TAG, layout.patches) == (
        f"{layout.tree}: {TAG} + 2 patch(es), applied 1 now; recovered from an "
        "interrupted apply; previous state kept as refs/backups/apply-STAMP"
    )
    assert git(layout.tree, "log", "--format=%s", f"{TAG}..HEAD").splitlines() == [
        "[Model] Change one",
        "[Model] Change 0",
    ]


def test_recovery_only_with_the_marker(env: Env) -> None:
    layout, pin = env
    applied(layout, pin)
    gd = tree.git_dir(layout.tree)
    lock = gd / "index.lock"
    lock.write_text("")  # some other git's, while no apply ran
    (layout.tree / "pkg" / "new0.py").write_text("half\n")
    assert sync.recover_interrupted_apply(layout.tree) is False
    assert lock.exists() and (layout.tree / "pkg" / "new0.py").read_text() == "half\n"
    (gd / tree.APPLYING_FILE).write_text("make apply\n")
    (gd / "rebase-apply").mkdir()
    (gd / "rebase-apply" / "next").write_text("1\n")
    assert sync.recover_interrupted_apply(layout.tree) is True
    assert not lock.exists() and not (gd / "rebase-apply").exists()
    assert not (gd / tree.APPLYING_FILE).exists()
    assert (layout.tree / "pkg" / "new0.py").read_text() == "v = 0\n"
    assert tree.in_progress(layout.tree) is None
    assert sync.recover_interrupted_apply(layout.tree) is False


# ------------------------------------------------------------- tree.py units


A, B, C, D = (("a.patch", "1"), ("b.patch", "2"), ("c.patch", "3"), ("d.patch", "4"))


def test_prefixes() -> None:
    assert tree.is_prefix([], [])
    assert tree.is_prefix([A, B], [A, B])
    assert tree.is_prefix([A], [A, B])
    assert not tree.is_prefix([A, B], [A])
    assert not tree.is_prefix([B], [A, B])
    assert tree.common_prefix([A, B, C], [A, B, D]) == 2
    assert tree.common_prefix([A, C, B], [A, B, C]) == 1  # stops at the first change
    assert tree.common_prefix([A, B], [A, B, C]) == 2
    assert tree.common_prefix([B], [A, B]) == 0
    assert tree.common_prefix([], [A]) == 0


def state_of(
    commits: tree.Series,
    patches: tree.Series,
    synced: tree.Series | None,
    dirty: list[str] | None = None,
    op: str | None = None,
) -> tree.TreeState:
    return tree.TreeState(
        commits=commits,
        subjects=[f"s-{name}" for name, _ in commits],
        patches=patches,
        synced=synced,
        dirty=dirty or [],
        op=op,
    )


def test_tree_state_properties() -> None:
    same = state_of([A, B], [A, B], [A, B])
    assert same.carried == 2 and same.local_commits == []
    assert not same.changed_since_sync and same.up_to_date
    assert not state_of([A, B], [A, B], None, dirty=["x"]).up_to_date
    assert not state_of([A, B], [A, B], None, op="git am").up_to_date
    assert not state_of([A], [A, B], None).up_to_date
    # Behind patches/ (a pull added B): nothing local, one to apply.
    behind = state_of([A], [A, B], [A])
    assert behind.carried == 1 and behind.local_commits == []
    assert behind.changed_since_sync
    # Synced with [A, B], then a pull replaced B by C: B is no local work.
    pulled = state_of([A, B], [A, C], [A, B])
    assert pulled.carried == 1 and pulled.local_commits == []
    assert pulled.changed_since_sync
    # A local commit D after the synced series, with and without a pull.
    assert state_of([A, B, D], [A, B], [A, B]).local_commits == ["s-d.patch"]
    assert state_of([A, B, D], [A, C], [A, B]).local_commits == ["s-d.patch"]
    # No record: only patches/ counts; a rewritten B is local.
    assert state_of([A, B], [A, C], None).local_commits == ["s-b.patch"]
    assert not state_of([A, B], [A, C], None).changed_since_sync
    # patches/ further along than the sync: local from the longer prefix.
    assert state_of([A, B, D], [A, B, C], [A]).local_commits == ["s-d.patch"]
    assert state_of([A, D, C], [A, B], [A, D]).local_commits == ["s-c.patch"]


def test_in_progress_names_each_operation(env: Env) -> None:
    layout, pin = env
    series.apply(layout, pin)
    gd = tree.git_dir(layout.tree)
    assert tree.in_progress(layout.tree) is None
    for name, op in (
        ("REVERT_HEAD", "a revert"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "git rebase"),
        ("rebase-apply", "git am"),
    ):
        (gd / name).mkdir()
        assert tree.in_progress(layout.tree) == op  # checked before those made earlier
    assert gd == (layout.tree / ".git").resolve()


def test_dirty_files_lists_each_untracked_file(env: Env) -> None:
    layout, pin = env
    series.apply(layout, pin)
    assert tree.dirty_files(layout.tree) == []
    (layout.tree / "new" / "deep").mkdir(parents=True)
    (layout.tree / "new" / "deep" / "f.txt").write_text("x\n")
    (layout.tree / "README.md").write_text("edited\n")
    assert tree.dirty_files(layout.tree) == ["README.md", "new/deep/f.txt"]


@pytest.mark.parametrize("text", ["not json", "5", "[[1]]", '[["a", "b", "c"]]'])
def test_a_broken_sync_record_counts_as_none(env: Env, text: str) -> None:
    layout, pin = env
    applied(layout, pin, 1)
    record = tree.git_dir(layout.tree) / tree.SYNC_FILE
    assert tree.read_synced(layout.tree) == tree.digests(patch_files(layout.patches))
    record.write_text(text)
    assert tree.read_synced(layout.tree) is None


def test_sync_record_round_trip_and_no_leftover(env: Env) -> None:
    layout, pin = env
    series.apply(layout, pin)
    tree.write_synced(layout.tree, [A, B])
    assert tree.read_synced(layout.tree) == [A, B]
    gd = tree.git_dir(layout.tree)
    assert sorted(p.name for p in gd.glob("vllm-mm-patches-*")) == [tree.SYNC_FILE]


def test_init_tree_keeps_the_release_as_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Made next to the tree (one rename at the end), never in the system's
    # temporary directory, which may be elsewhere or unusable.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("x = 1\n")
    (src / "pkg" / "alias.py").symlink_to("mod.py")
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\n")
    (src / "vllm.egg-info").mkdir()
    (src / "vllm.egg-info" / "SOURCES.txt").write_text("pkg/mod.py\n")
    (src / ".gitignore").write_text("/data/\n_version.py\n/-dash.json\n")
    (src / "pkg" / "_version.py").write_text("__version__ = '1'\n")
    (src / "data").mkdir()
    (src / "-dash.json").write_text("{}\n")  # shipped, ignored, named like an option
    shipped = [f"data/f{i:04d}.json" for i in range(1203)]  # more than 2 x 500
    for name in shipped:
        (src / name).write_text("{}\n")
    t = tmp_path / "new" / "build" / "vllm"  # parents made too
    tree.init_tree(src, t, TAG)
    assert sorted(p.name for p in t.parent.iterdir()) == ["vllm"]  # no temp left
    listed = git(t, "ls-files", "-s").splitlines()
    assert sorted(line.split()[-1] for line in listed) == sorted(
        ["-dash.json", ".gitignore", "pkg/alias.py", "pkg/mod.py", *shipped]
    )
    assert "120000" in next(x for x in listed if x.endswith("pkg/alias.py"))
    assert git(t, "log", "--format=%s|%D", TAG).strip() == (
        f"vLLM {TAG} (pristine release source)|HEAD -> main, tag: {TAG}"
    )
    assert git(t, "status", "--porcelain", "--ignored").split() == [
        "!!",
        "pkg/_version.py",
    ]


def test_init_tree_leaves_nothing_when_it_fails(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("a\n")
    t = tmp_path / "build" / "vllm"
    (t / "mine").mkdir(parents=True)
    with pytest.raises(OSError):
        tree.init_tree(src, t, TAG)
    assert sorted(p.name for p in t.parent.iterdir()) == ["vllm"]
    assert sorted(p.name for p in t.iterdir()) == ["mine"]


def test_applied_commits_are_reproducible(env: Env, tmp_path: Path) -> None:
    layout, pin = env
    for p in applied(layout, pin):
        p.write_text(
            re.sub(
                r"(?m)^Date: .*$", "Date: Mon, 1 Jan 2001 00:00:00 +0000", p.read_text()
            )
        )
    heads = []
    for name in ("build2", "build3"):
        other = Layout(root=tmp_path, build=tmp_path / name, patches=layout.patches)
        series.apply(other, pin)
        heads.append(git(other.tree, "rev-parse", "HEAD"))
        assert git(other.tree, "log", "-1", "--format=%cn|%ce|%cI") == (
            "vllm-mm-patches|vllm-mm-patches@users.noreply.github.com|"
            "2001-01-01T00:00:00+00:00\n"
        )
    assert heads[0] == heads[1]


def test_check_tree(env: Env) -> None:
    layout, pin = env
    series.apply(layout, pin)
    git(layout.tree, "tag", "a-tag-of-mine")  # the user's own tags are fine
    tree.check_tree(layout.tree, TAG)
    git(layout.tree, "checkout", "-q", "--orphan", "elsewhere")
    git(layout.tree, "commit", "-q", "-m", "unrelated")
    with pytest.raises(SeriesError) as e:
        tree.check_tree(layout.tree, TAG)
    assert str(e.value) == f"{layout.tree}: HEAD does not descend from {TAG}"
    with pytest.raises(SeriesError) as e:
        tree.check_tree(layout.tree, "v9")
    assert (
        str(e.value) == f"{layout.tree} has no tag v9; it was not made by `make apply`"
    )


# -------------------------------------------------------------- patchfile.py


def test_patch_files_sorted_and_only_patches(tmp_path: Path) -> None:
    assert patch_files(tmp_path / "missing") == []
    for name in ("0002-b.patch", "0010-c.patch", "0001-a.patch", "notes.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "0003-x.PATCH").write_text("x")
    assert [p.name for p in patch_files(tmp_path)] == [
        "0001-a.patch",
        "0002-b.patch",
        "0010-c.patch",
    ]
    assert tree.digests(patch_files(tmp_path))[0] == (
        "0001-a.patch",
        hashlib.sha256(b"0001-a.patch").hexdigest(),
    )


@pytest.mark.parametrize(
    ("header", "subject"),
    [
        ("Subject: [PATCH v2 3/7] [Model] Foo bar\n", "[Model] Foo bar"),
        (
            "Subject: [PATCH] [Model] A long subject\n folded by git\n",
            "[Model] A long subject folded by git",
        ),
        ("Subject: =?UTF-8?q?[PATCH]=20Caf=C3=A9=20support?=\n", "Café support"),
        ("Subject: [Bugfix] no prefix  \n", "[Bugfix] no prefix"),
        ("From: Dev <dev@example.com>\n", ""),
    ],
)
def test_subject_of(tmp_path: Path, header: str, subject: str) -> None:
    p = tmp_path / "x.patch"
    p.write_text(f"From 0000 Mon Sep 17 00:00:00 2001\n{header}\nbody\n---\n")
    assert subject_of(p) == subject


def test_format_patches_creates_the_output_directory(env: Env, tmp_path: Path) -> None:
    layout, pin = env
    applied(layout, pin)
    out = tmp_path / "new" / "nested" / "out"
    made = tree.format_patches(layout.tree, TAG, out)
    assert made == [out / p.name for p in patch_files(layout.patches)]
    assert [p.read_bytes() for p in made] == [
        p.read_bytes() for p in patch_files(layout.patches)
    ]


# ----------------------------------------------------------------- gitrun.py


def test_git_failure_names_the_git_command_not_its_options(tmp_path: Path) -> None:
    with pytest.raises(SeriesError) as e:
        gitrun.git(tmp_path, "--no-pager", "log")
    assert str(e.value).startswith("git log failed: fatal: not a git repository")
    assert gitrun.git(tmp_path, "--no-pager", "log", check=False) == ""
    proc = gitrun.git_run(tmp_path, "log", check=False, what="reading")
    assert proc.returncode != 0 and "not a git repository" in proc.stderr


def test_hermetic_env_never_waits_for_a_person() -> None:
    env = gitrun.hermetic_env({"GIT_PAGER": "less", "PATH": "/bin"})
    # No editor, pager or password prompt can block a git command.
    assert env["GIT_SEQUENCE_EDITOR"] == env["GIT_ASKPASS"] == "true"
    assert env["GIT_PAGER"] == "cat"
    assert env["LC_ALL"] == env["LANGUAGE"] == "C"


def test_run_checks_by_default() -> None:
    with pytest.raises(SeriesError, match="^listing failed: "):
        gitrun.run(["ls", "/no/such/dir"], what="listing")
    assert gitrun.run(["ls", "/no/such/dir"], what="listing", check=False).returncode


def test_apply_without_force_refuses_and_names_up_to_five_changes(env: Env) -> None:
    """sync.apply itself (not only the CLI): FORCE is off unless asked, and
    the list of uncommitted files is cut after exactly five."""
    layout, pin = env
    applied(layout, pin)
    for n, cut in ((5, ""), (6, " ...")):
        for i in range(n):
            (layout.tree / f"d{i}.txt").write_text("wip\n")
        with pytest.raises(SeriesError) as e:
            sync.apply(layout.tree, TAG, layout.patches)
        names = ", ".join(f"d{i}.txt" for i in range(5))
        assert f"has uncommitted changes ({names}{cut}): commit them" in str(e.value)
    assert (layout.tree / "d0.txt").read_text() == "wip\n"  # nothing discarded


def test_apply_says_export_would_refuse_after_a_pull(env: Env) -> None:
    layout, pin = env
    patches = applied(layout, pin)
    commit(layout.tree, "pkg/local.py", "x\n", "[Model] Local")
    patches[1].write_text(patches[1].read_text().replace("Why this change.", "Pulled."))
    with pytest.raises(SeriesError) as e:
        sync.apply(layout.tree, TAG, layout.patches)
    assert str(e.value) == (
        f"{layout.tree} has 1 commit(s) that patches/ does not carry ([Model] Local); "
        "patches/ also changed since the last sync (git pull?), so `make export` "
        "would refuse: `make apply FORCE=1` to discard them (kept under refs/backups/)"
    )


def test_export_counts_every_removed_patch(env: Env) -> None:
    layout, pin = env
    applied(layout, pin, 3)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~2")
    assert sync.export(layout.tree, TAG, layout.patches) == (
        "patches/: 1 patch(es), 0 written, 2 removed"
    )
