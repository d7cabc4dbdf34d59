# SPDX-License-Identifier: Apache-2.0
"""Tests of the series tooling (fetch, git tree, apply/export/sync, lock, CLI)
on small synthetic trees (seconds, no network), under a hostile git config."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from _index import publish
from _tooling import (
    GOOD_TRAILERS,
    ROOT,
    SCRIPTS,
    SOURCE,
    TAG,
    commit,
    git,
    use_hostile_git,
    make_layout,
    make_pin,
    make_sdist,
    user_env,
    write_version_file,
)

import fetch
import gitrun
import runlock
import series
import sync
import tree
from errors import SeriesError, run_main
from patchfile import patch_files
from pin import Layout, Pin

Env = tuple[Layout, Pin]


@pytest.fixture(autouse=True)
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return use_hostile_git(tmp_path, monkeypatch)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    sdist = tmp_path / "upstream" / "pkg-0.0.1.tar.gz"
    data = make_sdist(sdist, SOURCE)
    return make_layout(tmp_path), make_pin(sdist, data)


def fetch_and_apply(layout: Layout, pin: Pin, force: bool = False) -> str:
    return series.apply(layout, pin, force=force)


def two_patch_series(layout: Layout, pin: Pin) -> list[Path]:
    fetch_and_apply(layout, pin)
    commit(
        layout.tree,
        "pkg/mod.py",
        SOURCE["pkg/mod.py"].replace("line 3", "LINE 3"),
        "[Model] First change",
    )
    commit(
        layout.tree,
        "tests/test_new.py",
        "def test_x():\n    pass\n",
        "[Bugfix] Second change",
    )
    sync.export(layout.tree, pin.tag, layout.patches)
    return patch_files(layout.patches)


def export(layout: Layout, pin: Pin) -> str:
    return sync.export(layout.tree, pin.tag, layout.patches)


def state(layout: Layout, pin: Pin) -> tree.TreeState:
    return tree.tree_state(layout.tree, pin.tag, layout.patches)


def snapshot(patches: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in patch_files(patches)}


# --------------------------------------------------------------------- fetch


def test_fetch_verifies_and_unpacks(env: Env) -> None:
    layout, pin = env
    src = fetch.fetch(layout, pin)
    assert (src / "pkg" / "mod.py").read_text() == SOURCE["pkg/mod.py"]
    assert (layout.downloads / pin.sdist.name).is_file()
    assert not list(layout.downloads.glob("*.part"))


def test_fetch_checksum_mismatch(env: Env) -> None:
    layout, pin = env
    bad = Pin(pin.tag, pin.version, replace(pin.sdist, sha256="0" * 64))
    with pytest.raises(SeriesError, match="checksum mismatch"):
        fetch.fetch(layout, bad)
    assert not list(layout.downloads.glob("*"))
    assert not layout.src.exists() or not list(layout.src.iterdir())


def test_cached_sdist_corrupted_is_reported(env: Env) -> None:
    layout, pin = env
    fetch.fetch(layout, pin)
    cached = layout.downloads / pin.sdist.name
    data = bytearray(cached.read_bytes())
    data[100] ^= 0xFF
    cached.write_bytes(bytes(data))
    shutil.rmtree(layout.src)
    with pytest.raises(SeriesError, match="checksum mismatch.*delete it and run"):
        fetch.fetch(layout, pin)


def test_cached_sdist_truncated_is_reported(env: Env) -> None:
    layout, pin = env
    fetch.fetch(layout, pin)
    cached = layout.downloads / pin.sdist.name
    cached.write_bytes(cached.read_bytes()[:50])
    with pytest.raises(SeriesError, match=r"truncated \(50 of"):
        fetch.fetch(layout, pin)


def test_unreachable_index_is_one_clear_error(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = env
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    with pytest.raises(
        SeriesError,
        match="cannot find pkg-0.0.1.tar.gz on the package index .*reachable",
    ) as e:
        fetch.fetch(layout, pin)
    assert str(e.value) == (
        "cannot find pkg-0.0.1.tar.gz on the package index (project pkg): is the "
        "index reachable? check PIP_INDEX_URL / pip.conf, or pass make INDEX_URL=..."
    )
    assert not list(layout.downloads.glob("*"))


def corrupt_pin(pin: Pin, path: Path) -> Pin:
    data = path.read_bytes()
    publish(path.with_name(pin.sdist.name), data=data)
    art = replace(pin.sdist, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return Pin(pin.tag, pin.version, art)


def test_corrupt_archive_leaves_nothing_unpacked(env: Env) -> None:
    layout, pin = env
    junk = layout.root / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    with pytest.raises(SeriesError, match="cannot unpack"):
        fetch.fetch(layout, corrupt_pin(pin, junk))
    assert list(layout.src.iterdir()) == []


def without_tar_filter(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Make tarfile look like Debian 12's Python 3.11.2 (no `filter=`)."""
    calls: list[dict[str, object]] = []
    real = tarfile.TarFile.extractall

    def old_extractall(self, path=".", members=None, *, numeric_owner=False, **kw):  # type: ignore[no-untyped-def]
        if kw:
            raise TypeError(
                f"extractall() got an unexpected keyword argument {next(iter(kw))!r}"
            )
        calls.append({"members": members})
        for m in members or self.getmembers():
            # 3.11.2 calls os.chmod(path, mode) and, as root, os.chown(path,
            # uid, gid) with what the member says: None is a TypeError there
            if m.mode is None or (os.geteuid() == 0 and None in (m.uid, m.gid)):
                raise TypeError(f"{m.name}: mode/uid/gid None for os.chmod/chown")
        return real(
            self, path, members, numeric_owner=numeric_owner, filter="fully_trusted"
        )

    monkeypatch.delattr(tarfile, "data_filter")
    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    return calls


def test_unpack_without_tarfile_filter(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = env
    calls = without_tar_filter(monkeypatch)
    src = fetch.fetch(layout, pin)
    assert calls, "the fallback extraction was not used"
    assert (src / "pkg" / "dos.txt").read_bytes() == SOURCE["pkg/dos.txt"].encode()


def evil_archive(path: Path, member: tarfile.TarInfo) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        ok = tarfile.TarInfo("pkg-0.0.1/ok.txt")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.size else None)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("with_filter", [True, False])
def test_unpack_refuses_a_path_outside_the_archive(
    env: Env, monkeypatch: pytest.MonkeyPatch, with_filter: bool
) -> None:
    layout, pin = env
    if not with_filter:
        without_tar_filter(monkeypatch)
    evil = tarfile.TarInfo("pkg-0.0.1/../../escaped.txt")
    evil.size = 1
    archive = layout.root / "evil.tar.gz"
    evil_archive(archive, evil)
    with pytest.raises(SeriesError, match="cannot unpack.*pkg-0.0.1/../../escaped"):
        fetch.fetch(layout, corrupt_pin(pin, archive))
    assert not (layout.root / "escaped.txt").exists()
    assert not (layout.build / "escaped.txt").exists()


def archive_of(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    path.write_bytes(buf.getvalue())


def owned_by(name: str, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    info.uid = info.gid = 4321
    info.uname = info.gname = "nobody-here"
    return info


@pytest.mark.parametrize("with_filter", [True, False])
def test_unpack_modes_and_owner_as_the_data_filter_sets_them(
    env: Env, monkeypatch: pytest.MonkeyPatch, with_filter: bool
) -> None:
    """Python's "data" filter: no setuid/sticky, no group/other write, no
    owner from the archive; the fallback must do the same."""
    layout, pin = env
    if not with_filter:
        without_tar_filter(monkeypatch)
    archive = layout.root / "modes.tar.gz"
    archive_of(
        archive,
        [
            (owned_by("pkg-0.0.1", 0o1777, tarfile.DIRTYPE), b""),
            (owned_by("pkg-0.0.1/run.sh", 0o4777), b"#!/bin/sh\n"),
            (owned_by("pkg-0.0.1/data.txt", 0o666), b"x"),
            (owned_by("pkg-0.0.1/user-x", 0o700), b"y"),
            (owned_by("pkg-0.0.1/read-only", 0o444), b"z"),
            (owned_by("pkg-0.0.1/group-x", 0o455), b"w"),
            (owned_by("pkg-0.0.1/private", 0o700, tarfile.DIRTYPE), b""),
        ],
    )
    umask = os.umask(0o022)  # directories get the default mode: mkdir's under it
    try:
        src = fetch.fetch(layout, corrupt_pin(pin, archive))
    finally:
        os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o7777 for p in [src, *src.iterdir()]}
    assert modes == {
        src.name: 0o755,
        "run.sh": 0o755,
        "data.txt": 0o644,
        "user-x": 0o700,
        "read-only": 0o644,  # always rw for the owner
        "group-x": 0o644,  # no x unless the owner's
        "private": 0o755,  # a directory's own mode is ignored
    }
    assert {p.stat().st_uid for p in [src, *src.iterdir()]} == {os.getuid()}


def test_unpack_wants_one_top_level_directory(env: Env) -> None:
    layout, pin = env
    archive = layout.root / "two.tar.gz"
    archive_of(
        archive,
        [(tarfile.TarInfo("pkg-0.0.1/a"), b"a"), (tarfile.TarInfo("other/b"), b"b")],
    )
    with pytest.raises(SeriesError, match="expected one top-level directory"):
        fetch.fetch(layout, corrupt_pin(pin, archive))
    assert list(layout.src.iterdir()) == []


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.linkname = link
    return m


@pytest.mark.parametrize(
    ("m", "why"),
    [
        (member("top/a.txt"), None),
        (member("top/dir", tarfile.DIRTYPE), None),
        (member("top/link", tarfile.SYMTYPE, "a.txt"), None),
        (member("top/sub/link", tarfile.SYMTYPE, "../a.txt"), None),
        (member("top/hard", tarfile.LNKTYPE, "top/a.txt"), None),
        (member("/etc/passwd"), "path outside the archive"),
        (member("top/../../x"), "path outside the archive"),
        (member("top/../.."), "path outside the archive"),
        (member("top/sub/../../ok.txt"), None),
        (member("top/link", tarfile.SYMTYPE, "/etc/passwd"), "symlink outside"),
        (member("top/link", tarfile.SYMTYPE, "../../x"), "symlink outside"),
        (member("top/hard", tarfile.LNKTYPE, "../x"), "hard link outside"),
        (member("top/hard", tarfile.LNKTYPE, "/etc/x"), "hard link outside"),
        (member("top/dev", tarfile.CHRTYPE), "not a regular file"),
        (member("top/fifo", tarfile.FIFOTYPE), "not a regular file"),
    ],
)
def test_unsafe_member(m: tarfile.TarInfo, why: str | None) -> None:
    got = fetch.unsafe_member(m)
    assert (got is None) if why is None else (got is not None and got.startswith(why))


# ----------------------------------------------------------------------- git


def test_hermetic_env_drops_the_users_git_settings() -> None:
    base = {"GIT_DIR": "/x", "GIT_AUTHOR_DATE": "1", "PATH": "/bin", "HOME": "/h"}
    env = gitrun.hermetic_env(base)
    assert "GIT_DIR" not in env and "GIT_AUTHOR_DATE" not in env
    assert env["PATH"] == "/bin" and env["HOME"] == "/h"
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "vllm-mm-patches"
    assert env["GIT_EDITOR"] == "true" and env["GIT_TERMINAL_PROMPT"] == "0"


def test_hermetic_git_ignores_a_repositorys_own_config(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "commit.gpgSign", "true")
    git(repo, "config", "gpg.program", "false")
    git(repo, "config", "core.hooksPath", str(tmp_path / "home" / "hooks"))
    (repo / "f").write_text("x\n")
    gitrun.git(repo, "add", "f")
    gitrun.git(repo, "commit", "-q", "-m", "m")
    assert gitrun.git(repo, "log", "-1", "--format=%an %cn").split() == [
        "vllm-mm-patches",
        "vllm-mm-patches",
    ]


def test_failed_git_keeps_gits_message(tmp_path: Path) -> None:
    with pytest.raises(SeriesError, match=r"git rev-parse failed: fatal: not a git"):
        gitrun.git(tmp_path, "rev-parse", "HEAD")


def test_last_line_prefers_the_error_line() -> None:
    proc = subprocess.CompletedProcess(
        [], 1, "", "hint: try this\nerror: the real cause\nmore detail\nhint: x\n"
    )
    assert gitrun.last_line(proc) == "error: the real cause"
    proc = subprocess.CompletedProcess([], 1, "out only\n", "")
    assert gitrun.last_line(proc) == "out only"
    assert gitrun.last_line(subprocess.CompletedProcess([], 3, "", "")) == "exit code 3"


def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(SeriesError, match="frobnicate failed: no-such-prog-x is not"):
        gitrun.run(["no-such-prog-x"], what="frobnicate")


def test_pristine_root_commit_is_the_same_whatever_the_users_config(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = env
    fetch_and_apply(layout, pin)  # under the hostile config
    hostile_root = git(layout.tree, "rev-parse", TAG)
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    other = Layout(root=tmp_path, build=tmp_path / "build2", patches=layout.patches)
    fetch_and_apply(other, pin)
    assert git(other.tree, "rev-parse", TAG) == hostile_root
    # CRLF kept byte for byte in the commit (no autocrlf), identity fixed.
    blob = subprocess.run(
        ["git", "-C", str(layout.tree), "cat-file", "blob", f"{TAG}:pkg/dos.txt"],
        capture_output=True,
        env=user_env(),
    ).stdout
    assert blob == b"crlf line\r\nsecond\r\n"
    assert git(
        layout.tree, "log", "-1", "--format=%an|%ae|%cn|%aI|%cI", TAG
    ).strip() == (
        "vllm-mm-patches|vllm-mm-patches@users.noreply.github.com|vllm-mm-patches|"
        "2026-04-18T00:00:00+00:00|2026-04-18T00:00:00+00:00"
    )
    assert git(layout.tree, "cat-file", "-t", TAG).strip() == "commit"  # unsigned


# ---------------------------------------------------------------- apply/export


def test_pristine_tree(env: Env) -> None:
    layout, pin = env
    fetch_and_apply(layout, pin)
    tracked = git(layout.tree, "ls-files").split()
    assert "pkg/mod.py" in tracked
    assert "data/table.json" in tracked  # shipped though git-ignored
    assert "PKG-INFO" not in tracked  # sdist artifact
    assert "pkg/_version.py" not in tracked  # generated
    assert git(layout.tree, "rev-list", "--max-parents=0", "HEAD") == git(
        layout.tree, "rev-parse", TAG
    )
    assert git(layout.tree, "branch", "--show-current").strip() == "main"


def test_export_apply_round_trip_is_byte_stable(env: Env) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    assert [p.name for p in patches] == [
        "0001-Model-First-change.patch",
        "0002-Bugfix-Second-change.patch",
    ]
    text = patches[0].read_text()
    assert text.startswith("From 0000000000000000000000000000000000000000 ")
    assert "--- a/pkg/mod.py\n+++ b/pkg/mod.py\n" in text
    assert "HOSTILE" not in text and "[PATCH 1/2]" not in text
    assert "Subject: [PATCH] [Model] First change\n" in text
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in patches}
    # Export of an unchanged branch: nothing rewritten.
    assert "0 written, 0 removed" in export(layout, pin)
    assert {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in patch_files(layout.patches)
    } == before
    # Fresh apply from patches/, export again: same bytes.
    shutil.rmtree(layout.tree)
    assert "applied 2 now" in fetch_and_apply(layout, pin)
    assert (
        git(layout.tree, "log", "-1", "--format=%an|%cn").strip()
        == "Dev|vllm-mm-patches"
    )
    export(layout, pin)
    assert snapshot(layout.patches) == {k: v[0] for k, v in before.items()}


def test_apply_is_idempotent(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    head = git(layout.tree, "rev-parse", "HEAD")
    assert "already up to date" in fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD") == head


def test_apply_takes_new_patches(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")  # as if pulled later
    assert "applied 1 now" in fetch_and_apply(layout, pin)
    assert state(layout, pin).carried == 2


def test_apply_refuses_uncommitted_edit(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    edited = layout.tree / "pkg" / "other.py"
    edited.write_text("x = 2  # my work\n")
    with pytest.raises(SeriesError, match="uncommitted.*make export.*FORCE=1"):
        fetch_and_apply(layout, pin)
    assert edited.read_text() == "x = 2  # my work\n"


def test_apply_refuses_unexported_commit(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Not exported")
    head = git(layout.tree, "rev-parse", "HEAD")
    with pytest.raises(
        SeriesError, match=r"1 commit\(s\).*Not exported\): run `make export`"
    ):
        fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD") == head


def test_apply_force_discards_but_keeps_a_backup(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Not exported")
    lost_head = git(layout.tree, "rev-parse", "HEAD").strip()
    (layout.tree / "README.md").write_text("my edit\n")
    out = fetch_and_apply(layout, pin, force=True)
    assert "refs/backups/apply-" in out and "stash@{0}" in out
    assert (layout.tree / "README.md").read_text() == "pristine\n"
    assert (
        git(layout.tree, "log", "-1", "--format=%s").strip() == "[Bugfix] Second change"
    )
    refs = git(layout.tree, "for-each-ref", "--format=%(objectname)", "refs/backups/")
    assert lost_head in refs.split()
    assert "my edit" in git(layout.tree, "stash", "show", "-p", "stash@{0}")
    assert state(layout, pin).up_to_date


def test_conflicting_patch_is_named_and_tree_left_at_last_good(env: Env) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    # A third patch whose context does not exist in the tree.
    bad = patches[0].read_text().replace("line 2\n", "line 2 changed upstream\n")
    bad = bad.replace("[Model] First change", "[Model] Third change")
    (layout.patches / "0003-Model-Third-change.patch").write_text(bad)
    head = git(layout.tree, "rev-parse", "HEAD")
    with pytest.raises(
        SeriesError,
        match=r"^0003-Model-Third-change.patch does not apply "
        r"\(conflicts in pkg/mod.py\); .* is left at 0002-Bugfix",
    ):
        fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD") == head
    assert tree.in_progress(layout.tree) is None
    assert tree.dirty_files(layout.tree) == []


def test_malformed_patch_reports_gits_message(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    (layout.patches / "0003-garbage.patch").write_text("this is not a patch\n")
    with pytest.raises(
        SeriesError,
        match=r"0003-garbage.patch: git am failed: Patch format detection failed",
    ):
        fetch_and_apply(layout, pin)
    assert tree.in_progress(layout.tree) is None


def test_a_failure_that_is_no_conflict_says_what_failed(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    lock = tree.git_dir(layout.tree) / "index.lock"
    lock.write_text("")  # another git is running in the tree
    with pytest.raises(SeriesError) as e:
        fetch_and_apply(layout, pin)
    assert "unable to write index file (index.lock exists" in str(e.value)
    assert "conflict" not in str(e.value)
    assert str(e.value).startswith("0002-Bugfix-Second-change.patch: git am failed: ")


def test_a_patch_deleted_during_apply_is_named(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    real = sync.git_run

    def racing_git_run(t: Path | None, *args: str, **kw: object):  # type: ignore[no-untyped-def]
        if args[0] == "am" and args[-1].endswith(".patch"):
            Path(args[-1]).unlink()
        return real(t, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "git_run", racing_git_run)
    with pytest.raises(SeriesError, match=f"{patches[1].name} disappeared"):
        fetch_and_apply(layout, pin)


def test_export_removes_dropped_patches_and_refuses_dirty_tree(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    assert "1 removed" in export(layout, pin)
    assert [p.name for p in patch_files(layout.patches)] == [
        "0001-Model-First-change.patch"
    ]
    (layout.tree / "README.md").write_text("edit\n")
    with pytest.raises(SeriesError, match="uncommitted changes.*README.md"):
        export(layout, pin)


def test_status_require_clean(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    assert "2/2 patch(es)" in series.status(layout, pin, require_clean=True)
    (layout.tree / "README.md").write_text("edit\n")
    with pytest.raises(SeriesError, match="uncommitted"):
        series.status(layout, pin, require_clean=True)


# ------------------------------------------------------- sync with patches/


def pull_changed_patch(layout: Layout, n: int = 1) -> bytes:
    """patches/ as after a `git pull` that changed patch `n` (0-based)."""
    p = patch_files(layout.patches)[n]
    new = p.read_text().replace("Why this change.", "Why this change, reworded.")
    p.write_text(new)
    return new.encode()


def test_apply_after_a_pull_brings_the_tree_to_the_new_series(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    pulled = pull_changed_patch(layout, 0)
    before = snapshot(layout.patches)
    out = fetch_and_apply(layout, pin)
    assert "applied 2 now" in out and "refs/backups/" in out
    assert state(layout, pin).up_to_date
    assert "reworded" in git(layout.tree, "log", "--format=%B", "HEAD~1", "-1")
    assert "0 written, 0 removed" in export(layout, pin)
    assert snapshot(layout.patches) == before
    assert patch_files(layout.patches)[0].read_bytes() == pulled


def test_apply_after_a_pull_keeps_the_common_prefix(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    first = git(layout.tree, "rev-parse", "HEAD~1")
    pull_changed_patch(layout, 1)
    assert "applied 1 now" in fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD~1") == first


def test_export_never_deletes_or_overwrites_a_pulled_patch(env: Env) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    pull_changed_patch(layout, 1)
    new = patches[0].read_text().replace("First change", "Third change")
    (layout.patches / "0003-Model-Third-change.patch").write_text(new)
    before = snapshot(layout.patches)
    with pytest.raises(
        SeriesError,
        match=r"patches/ changed since .* last synced.*0002-Bugfix-Second-change.patch, "
        r"0003-Model-Third-change.patch; run `make apply` first",
    ):
        export(layout, pin)
    assert snapshot(layout.patches) == before


def test_local_work_and_a_pull_are_refused_in_one_line(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Mine")
    pull_changed_patch(layout, 0)
    head = git(layout.tree, "rev-parse", "HEAD")
    with pytest.raises(SeriesError, match=r"Mine\); patches/ also changed .* FORCE=1"):
        fetch_and_apply(layout, pin)
    with pytest.raises(SeriesError, match="is stale: patches/ changed"):
        sync.ensure(layout.tree, TAG, layout.patches)
    assert git(layout.tree, "rev-parse", "HEAD") == head
    line = series.status(layout, pin)
    assert (
        "1 commit(s) not in patches/" in line and "changed since the last sync" in line
    )


def test_ensure(env: Env) -> None:
    layout, pin = env
    assert "applied 0 now" not in series.ensure(layout, pin)  # creates the tree
    assert (layout.tree / ".git").is_dir()
    two_patch_series(layout, pin)
    assert sync.ensure(layout.tree, TAG, layout.patches) is None
    pull_changed_patch(layout, 1)
    assert sync.ensure(layout.tree, TAG, layout.patches) == "apply"
    assert "applied 1 now" in series.ensure(layout, pin)
    assert sync.ensure(layout.tree, TAG, layout.patches) is None
    # Local work on an up-to-date series is tested as it is.
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Mine")
    (layout.tree / "README.md").write_text("wip\n")
    assert sync.ensure(layout.tree, TAG, layout.patches) is None
    assert "ready" in series.ensure(layout, pin)
    assert (layout.tree / "README.md").read_text() == "wip\n"


def test_ensure_refuses_a_tree_mid_rebase(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    (tree.git_dir(layout.tree) / "rebase-merge").mkdir()
    with pytest.raises(SeriesError, match="middle of git rebase.*before building"):
        sync.ensure(layout.tree, TAG, layout.patches)


def test_a_tree_without_sync_record_works_as_before(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    (tree.git_dir(layout.tree) / tree.SYNC_FILE).unlink()
    assert tree.read_synced(layout.tree) is None
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    assert "applied 1 now" in fetch_and_apply(layout, pin)
    assert tree.read_synced(layout.tree) == state(layout, pin).patches
    (tree.git_dir(layout.tree) / tree.SYNC_FILE).write_text("not json")
    assert tree.read_synced(layout.tree) is None


# ------------------------------------------------- interrupted and stuck trees


def test_interrupted_apply_recovers_by_itself(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", TAG)
    real = sync.git_run
    calls = []

    def interrupted(t: Path | None, *args: str, **kw: object):  # type: ignore[no-untyped-def]
        if args[0] == "am" and args[-1].endswith(".patch"):
            calls.append(args[-1])
            if len(calls) == 2:
                # Ctrl-C while git am is half-way: index.lock and rebase-apply
                (tree.git_dir(layout.tree) / "rebase-apply").mkdir()
                (tree.git_dir(layout.tree) / "index.lock").write_text("")
                (layout.tree / "pkg" / "mod.py").write_text("half-written\n")
                raise KeyboardInterrupt
        return real(t, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "git_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_and_apply(layout, pin)
    monkeypatch.setattr(sync, "git_run", real)
    assert tree.in_progress(layout.tree) == "git am"
    out = fetch_and_apply(layout, pin)
    assert "recovered from an interrupted apply" in out and "applied 1 now" in out
    assert state(layout, pin).up_to_date


def test_tree_stuck_mid_git_am_is_refused(env: Env) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    # The user's own `git am` of a patch that conflicts, left unfinished.
    bad = patches[0].read_text().replace("line 2\n", "line 2 elsewhere\n")
    stray = layout.root / "stray.patch"
    stray.write_text(bad)
    proc = subprocess.run(
        ["git", "-C", str(layout.tree), "am", "-3", str(stray)],
        capture_output=True,
        env=user_env(),
    )
    assert proc.returncode != 0
    with pytest.raises(SeriesError, match=r"middle of git am: finish it .*FORCE=1"):
        fetch_and_apply(layout, pin)
    assert tree.in_progress(layout.tree) == "git am"
    with pytest.raises(SeriesError, match="middle of git am"):
        export(layout, pin)
    out = fetch_and_apply(layout, pin, force=True)
    assert "previous state kept" in out
    assert state(layout, pin).up_to_date


def test_apply_refuses_a_tree_it_did_not_make(env: Env) -> None:
    layout, pin = env
    layout.tree.mkdir(parents=True)
    (layout.tree / "x").write_text("mine\n")
    with pytest.raises(SeriesError, match="not a git repository.*FORCE=1"):
        fetch_and_apply(layout, pin)
    assert "moved to" in fetch_and_apply(layout, pin, force=True)
    assert list(layout.build.glob("vllm.bak-*/x"))
    git(layout.tree, "tag", "-d", TAG)
    with pytest.raises(SeriesError, match=f"has no tag {TAG}"):
        fetch_and_apply(layout, pin)
    git(layout.tree, "tag", TAG, "HEAD")
    git(layout.tree, "checkout", "-q", "--orphan", "other")
    git(layout.tree, "commit", "-q", "-m", "unrelated")
    with pytest.raises(SeriesError, match=f"does not descend from {TAG}"):
        fetch_and_apply(layout, pin)


# ---------------------------------------------------------------- clean, lock


def test_clean_refuses_unexported_work(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Mine")
    with pytest.raises(SeriesError, match="not in patches/.*not removed"):
        series.clean(layout, pin)
    assert (layout.tree / ".git").is_dir()
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    (layout.tree / "README.md").write_text("wip\n")
    with pytest.raises(SeriesError, match="uncommitted"):
        series.clean(layout, pin)
    git(layout.tree, "checkout", "README.md")
    pull_changed_patch(layout, 0)  # nothing of the tree would be lost
    assert "vllm, src" in series.clean(layout, pin)
    assert not layout.tree.exists() and (layout.downloads / pin.sdist.name).is_file()


HOLD = """
import sys, time
sys.path.insert(0, {scripts!r})
import runlock
runlock.acquire(__import__('pathlib').Path({lock!r}), 'make apply')
print('held', flush=True)
time.sleep(30)
"""


def test_a_second_command_is_refused_while_one_runs(tmp_path: Path) -> None:
    lock = tmp_path / "build" / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(scripts=str(SCRIPTS), lock=str(lock))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(
            SeriesError,
            match=rf"another tooling command .*pid {holder.pid}: make apply",
        ):
            runlock.acquire(lock, "make export")
    finally:
        holder.kill()
        holder.wait()
    runlock.acquire(lock, "make export")  # free again
    assert os.environ[runlock.HELD_ENV] == str(lock.resolve())
    runlock.acquire(lock, "nested")  # the holder itself: no deadlock
    runlock.release(lock)
    assert runlock.HELD_ENV not in os.environ


def test_a_child_of_the_holder_inherits_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "build" / ".lock"
    runlock.acquire(lock, "make test")
    try:
        code = f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); import runlock, pathlib; runlock.acquire(pathlib.Path({str(lock)!r})); print('ok')"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True
        )
        assert out.stdout == "ok\n", out.stderr
        env = {k: v for k, v in os.environ.items() if k != runlock.HELD_ENV}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env
        )
        assert "another tooling command" in out.stderr
    finally:
        runlock.release(lock)


# ------------------------------------------------------------ CLI, one line


def cli(
    script: str, *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def cli_env(root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(runlock.HELD_ENV, None)
    env.update(SERIES_ROOT=str(root), **extra)
    return env


def assert_one_line_error(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], (
        proc.stderr
    )


def test_cli_apply_export_status(env: Env) -> None:
    layout, pin = env
    write_version_file(layout.root, pin)
    e = cli_env(layout.root)
    proc = cli("series.py", "apply", env=e)
    assert proc.returncode == 0 and "applied 0 now" not in proc.stdout, proc.stderr
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Mine")
    assert cli("series.py", "export", env=e).returncode == 0
    assert [p.name for p in patch_files(layout.patches)] == ["0001-Model-Mine.patch"]
    proc = cli("series.py", "status", "--require-clean", env=e)
    assert proc.returncode == 0 and "1/1 patch(es)" in proc.stdout


@pytest.mark.parametrize("version", ["(3, 9, 18)", "(3, 14, 0)"])
@pytest.mark.parametrize(
    "script",
    ["series.py", "build.py", "run_tests.py", "lock.py", "mutation.py", "eval_gpu.py"],
)
def test_every_entry_point_refuses_an_unsupported_python_first(
    env: Env, script: str, version: str
) -> None:
    layout, pin = env
    write_version_file(layout.root, pin)
    code = (
        f"import sys, runpy; sys.version_info = {version}; "
        f"sys.argv = [{script!r}, 'apply']; "
        f"runpy.run_path({str(SCRIPTS / script)!r}, run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli_env(layout.root),
    )
    minor = version.split(",")[1].strip()
    assert_one_line_error(proc, f"Python 3.{minor} is not supported: use 3.10 to 3.13")
    assert not layout.build.exists()  # checked before any work


def test_cli_read_only_checkout_is_one_line(env: Env, tmp_path: Path) -> None:
    layout, pin = env
    write_version_file(layout.root, pin)
    if os.geteuid() == 0:  # root writes anywhere but on a read-only mount
        build = Path("/sys/vllm-mm-patches-test/build")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        build = ro / "build"
    proc = cli(
        "series.py", "apply", env=cli_env(layout.root, SERIES_BUILD_DIR=str(build))
    )
    assert_one_line_error(proc, str(build.parent))


def test_cli_without_git_is_one_line(env: Env) -> None:
    layout, pin = env
    write_version_file(layout.root, pin)
    proc = cli("series.py", "apply", env=cli_env(layout.root, PATH="/nonexistent"))
    assert_one_line_error(proc, "git is not installed")


def test_cli_bad_version_file_is_one_line(env: Env) -> None:
    layout, _ = env
    (layout.root / "VERSION").write_text("VLLM_TAG=v1\n")
    assert_one_line_error(
        cli("series.py", "status", env=cli_env(layout.root)), "missing key"
    )


def test_run_main_turns_failures_into_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    def unwritable() -> int:
        raise PermissionError(13, "Permission denied", "/ro/build")

    def failing() -> int:
        raise SeriesError("the reason")

    assert run_main(interrupted) == 130
    assert "interrupted" in capsys.readouterr().err
    assert run_main(unwritable) == 1
    assert capsys.readouterr().err == "error: /ro/build: Permission denied\n"
    assert run_main(failing) == 1
    assert capsys.readouterr().err == "error: the reason\n"
    assert run_main(lambda: None) == 0 and run_main(lambda: 3) == 3


# --------------------------------------------------------------------- pin


def test_read_kv_rejects_garbage(tmp_path: Path) -> None:
    import pin as pin_module

    f = tmp_path / "VERSION"
    f.write_text("A=1\nnot a pair\n")
    with pytest.raises(SeriesError, match="VERSION:2: expected KEY=VALUE"):
        pin_module.read_kv(f)
    f.write_text("# c\n\nA=1=2\n B = x\n")
    with pytest.raises(SeriesError, match="VERSION:4"):
        pin_module.read_kv(f)
    f.write_text("# c\n\nA=1=2\n")
    assert pin_module.read_kv(f) == {"A": "1=2"}
    with pytest.raises(SeriesError, match="not found"):
        pin_module.read_kv(tmp_path / "nope")


def test_pin_load(tmp_path: Path) -> None:
    f = tmp_path / "VERSION"
    f.write_text(
        "VLLM_TAG=v1\nVLLM_VERSION=1\nSDIST_NAME=a\nSDIST_SHA256=h\nSDIST_SIZE=3\n"
    )
    p = Pin.load(f)
    assert (p.tag, p.version, p.sdist.size, p.cpu_wheel) == ("v1", "1", 3, None)
    f.write_text(f.read_text().replace("SDIST_SIZE=3", "SDIST_SIZE=x"))
    with pytest.raises(SeriesError, match="SDIST_SIZE is not a number"):
        Pin.load(f)
    f.write_text(f.read_text().replace("SDIST_SIZE=x", "CPU_WHEEL_NAME=w"))
    with pytest.raises(SeriesError, match="missing key SDIST_SIZE"):
        Pin.load(f)


def test_layout_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SERIES_ROOT", raising=False)
    monkeypatch.delenv("SERIES_BUILD_DIR", raising=False)
    default = Layout.default()
    assert default.root == ROOT and default.build == ROOT / "build"
    assert (
        default.tree == ROOT / "build" / "vllm"
        and default.python == ROOT / "build" / "venv" / "bin" / "python"
    )
    monkeypatch.setenv("SERIES_ROOT", str(tmp_path))
    assert Layout.default().patches == tmp_path / "patches"
    assert Layout.default().manifest == tmp_path / "tests" / "vllm-tests.txt"
    monkeypatch.setenv("SERIES_BUILD_DIR", str(tmp_path / "b"))
    assert Layout.default().lock_file == tmp_path / "b" / ".lock"


def test_git_url_gives_the_same_tree_as_the_sdist(env: Env, tmp_path: Path) -> None:
    layout, pin = env
    fetch_and_apply(layout, pin)
    upstream = tmp_path / "upstream-git"
    upstream.mkdir()
    git(upstream, "init", "-q")
    git(upstream, "config", "core.autocrlf", "false")
    for name, text in SOURCE.items():
        if name in ("PKG-INFO", "pkg/_version.py"):
            continue
        (upstream / name).parent.mkdir(parents=True, exist_ok=True)
        (upstream / name).write_bytes(text.encode())
    git(upstream, "add", "-A")
    git(upstream, "add", "-f", "data/table.json")
    git(upstream, "commit", "-q", "-m", "release")
    git(upstream, "tag", TAG)
    other = Layout(root=tmp_path, build=tmp_path / "build-git", patches=layout.patches)
    src = fetch.fetch(other, pin, git_url=f"file://{upstream}")
    assert not (src / ".git").exists()
    tree.init_tree(src, other.tree, TAG)
    assert git(other.tree, "rev-parse", TAG) == git(layout.tree, "rev-parse", TAG)


def test_git_url_clone_failure_is_one_clear_error(env: Env, tmp_path: Path) -> None:
    layout, pin = env
    with pytest.raises(SeriesError, match=f"clone .* at {TAG} failed: fatal:"):
        fetch.fetch(layout, pin, git_url=f"file://{tmp_path}/nowhere")
    assert not list(layout.src.glob("*"))


def test_good_trailers_constant_is_what_check_accepts() -> None:
    assert "Signed-off-by" in GOOD_TRAILERS


# ------------------------------------------------------- CLI, in process


@pytest.fixture
def root_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    layout, pin = env
    write_version_file(layout.root, pin)
    monkeypatch.setenv("SERIES_ROOT", str(layout.root))
    monkeypatch.delenv("SERIES_BUILD_DIR", raising=False)
    monkeypatch.delenv("VLLM_GIT_URL", raising=False)
    yield layout, pin
    runlock.release(layout.lock_file)


def test_main_dispatches_every_command(
    root_env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    layout, pin = root_env

    def out(*argv: str) -> str:
        assert series.main(list(argv)) == 0
        return capsys.readouterr().out

    assert out("fetch") == f"pristine source: {layout.src / 'vllm-0.0.1'}\n"
    assert not layout.tree.exists()
    assert out("status") == f"{layout.tree}: not created (run `make apply`)\n"
    assert out("apply") == f"{layout.tree}: {TAG} + 0 patch(es), already up to date\n"
    assert layout.lock_file.read_text().startswith(f"pid {os.getpid()}: series.py ")
    commit(layout.tree, "tests/test_new.py", "def test_x():\n    pass\n", "[T] New")
    assert out("export") == "patches/: 1 patch(es), 1 written, 0 removed\n"
    step = "build/vllm: the pristine tag + patches/ (make apply)"
    lines = out("ensure").splitlines()  # the first step of `make build`, timed
    assert lines[:2] == [f"==> {step}", f"{layout.tree}: ready to build/test"]
    assert re.fullmatch(rf"    {re.escape(step)}: done in \d+\.\d s", lines[2])
    assert len(lines) == 3
    assert out("status", "--require-clean") == f"{layout.tree}: {TAG} + 1/1 patch(es)\n"
    (layout.root / "tests").mkdir()
    layout.manifest.write_text("")
    assert out("test-files") == "tests/test_new.py\n"
    ruff = tmp_path / "ok-ruff"
    ruff.write_text("#!/bin/sh\nexit 0\n")
    ruff.chmod(0o755)
    assert out("check", "--ruff", str(ruff)) == (
        "1 patch(es) OK: messages, clean apply, ruff\n"
    )
    with pytest.raises(SeriesError, match="ruff not found"):
        series.main(["check"])  # default: build/venv/bin/ruff, not built here
    assert out("clean") == f"removed vllm, src from {layout.build}\n"
    with pytest.raises(SeriesError, match="does not exist: run `make apply`"):
        series.main(["export"])
    with pytest.raises(SystemExit):
        series.main(["frobnicate"])


def test_main_apply_force_and_ensure_create(
    root_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = root_env
    assert series.main(["ensure"]) == 0
    assert "already up to date" in capsys.readouterr().out
    (layout.tree / "README.md").write_text("wip\n")
    with pytest.raises(SeriesError, match="uncommitted"):
        series.main(["apply"])
    assert series.main(["apply", "--force"]) == 0
    assert "previous state kept" in capsys.readouterr().out
    assert (layout.tree / "README.md").read_text() == "pristine\n"


def test_main_takes_the_lock(root_env: Env, tmp_path: Path) -> None:
    layout, _ = root_env
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD.format(scripts=str(SCRIPTS), lock=str(layout.lock_file)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for cmd in ("fetch", "apply", "export", "ensure", "status", "clean"):
            with pytest.raises(SeriesError, match="another tooling command"):
                series.main([cmd])
        layout.tree.mkdir(parents=True)
        (layout.tree / ".git").mkdir()
        (layout.root / "tests").mkdir()
        layout.manifest.write_text("x run\n")
        with pytest.raises(SeriesError, match="x does not exist"):
            series.main(["test-files"])  # read-only: no lock needed
    finally:
        holder.kill()
        holder.wait()


def test_clean_without_a_tree_and_the_git_url_source(
    root_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, pin = root_env
    assert series.clean(layout, pin) == f"removed nothing from {layout.build}"
    with pytest.raises(
        SeriesError, match="no pristine source under .*: run `make fetch`"
    ):
        fetch.source_dir(layout, pin)
    (layout.src / "vllm-0.0.1-git").mkdir(parents=True)
    with pytest.raises(SeriesError, match="no pristine source"):
        fetch.source_dir(layout, pin)  # without VLLM_GIT_URL the git copy is unused
    monkeypatch.setenv("VLLM_GIT_URL", "file:///x")
    assert fetch.source_dir(layout, pin) == layout.src / "vllm-0.0.1-git"
    monkeypatch.delenv("VLLM_GIT_URL")
    (layout.src / "vllm-0.0.1").mkdir()
    assert fetch.source_dir(layout, pin) == layout.src / "vllm-0.0.1"


def test_a_real_three_way_conflict_names_the_unmerged_file(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    # A patch made on the tag that changes line 3 another way: its blobs
    # exist, so `git am --3way` merges and leaves pkg/mod.py unmerged.
    git(layout.tree, "checkout", "-q", "-b", "other", TAG)
    commit(
        layout.tree,
        "pkg/mod.py",
        SOURCE["pkg/mod.py"].replace("line 3", "line three"),
        "[Model] Rival",
    )
    rival = git(layout.tree, "format-patch", "-1", "--stdout", "HEAD")
    git(layout.tree, "checkout", "-q", "main")
    git(layout.tree, "branch", "-q", "-D", "other")
    (layout.patches / "0003-Model-Rival.patch").write_text(rival)
    with pytest.raises(SeriesError) as e:
        fetch_and_apply(layout, pin)
    assert str(e.value).startswith(
        "0003-Model-Rival.patch does not apply (conflicts in pkg/mod.py); "
    )
    assert tree.in_progress(layout.tree) is None


def test_a_patch_of_a_missing_file_is_a_conflict(env: Env) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    gone = patches[0].read_text().replace("pkg/mod.py", "pkg/gone.py")
    gone = re.sub(
        r"^index \w+\.\.\w+", "index 111111111111..222222222222", gone, flags=re.M
    )
    (layout.patches / "0003-Model-Gone.patch").write_text(gone)
    with pytest.raises(SeriesError) as e:
        fetch_and_apply(layout, pin)
    assert str(e.value).startswith(
        "0003-Model-Gone.patch does not apply (conflicts in pkg/gone.py); "
    )


def test_status_and_clean_lines(env: Env) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Mine")
    (layout.tree / "README.md").write_text("wip\n")
    pull_changed_patch(layout, 0)
    (tree.git_dir(layout.tree) / "rebase-merge").mkdir()
    assert series.status(layout, pin) == (
        f"{layout.tree}: {TAG} + 0/2 patch(es); in the middle of git rebase; "
        "1 uncommitted change(s); 1 commit(s) not in patches/ (make export); "
        "patches/ changed since the last sync (make apply)"
    )
    with pytest.raises(SeriesError) as e:
        series.clean(layout, pin)
    assert str(e.value) == (
        f"{layout.tree}: {TAG} + 0/2 patch(es); in the middle of git rebase; "
        "1 uncommitted change(s); 1 commit(s) not in patches/ (make export): "
        f"not removed (make export, or delete {layout.tree} yourself)"
    )


def test_lock_file_content_nested_dir_and_release(tmp_path: Path) -> None:
    lock = tmp_path / "a" / "b" / ".lock"
    runlock.acquire(lock, "make export")
    try:
        assert lock.read_text() == f"pid {os.getpid()}: make export\n"
    finally:
        runlock.release(lock)
    code = (
        f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); import runlock, pathlib;"
        f" runlock.acquire(pathlib.Path({str(lock)!r})); print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if k != runlock.HELD_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.stdout == "ok\n", out.stderr  # released: another process gets it
    runlock.acquire(lock)
    try:
        assert lock.read_text() == f"pid {os.getpid()}: {' '.join(sys.argv)}\n"
    finally:
        runlock.release(lock)


def test_a_lock_held_by_a_silent_process(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    lock.write_text("")
    code = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a');"
        " fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(SeriesError, match=r"\(another process\); wait for it"):
            runlock.acquire(lock)
    finally:
        holder.kill()
        holder.wait()


def test_run_main_oserror_without_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    def full() -> int:
        raise OSError(28, "No space left on device")

    assert run_main(full) == 1
    assert capsys.readouterr().err == "error: No space left on device\n"


def test_last_line_skips_blank_and_hint_lines() -> None:
    proc = subprocess.CompletedProcess([], 1, "", "real cause\n\nHint: do this\n\n")
    assert gitrun.last_line(proc) == "real cause"
    proc = subprocess.CompletedProcess([], 2, "", "hint: only\n\n")
    assert gitrun.last_line(proc) == "exit code 2"


def test_main_help_and_arguments(
    root_env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    layout, pin = root_env
    with pytest.raises(SystemExit):
        series.main([])  # a command is required
    with pytest.raises(SystemExit):
        series.main(["--help"])
    out = capsys.readouterr().out
    assert "Fetch the pinned vLLM source" in out and "series.py apply [--force]" in out
    with pytest.raises(SystemExit):
        series.main(["apply", "--help"])
    assert "discard local work (kept under refs/backups/)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        series.main(["check", "--help"])
    assert "default: build/venv/bin/ruff" in capsys.readouterr().out
    series.main(["apply"])
    capsys.readouterr()
    commit(layout.tree, "tests/test_a.py", "def test_a():\n    pass\n", "[T] A")
    commit(layout.tree, "tests/test_b.py", "def test_b():\n    pass\n", "[T] B")
    series.main(["export"])
    with pytest.raises(SeriesError, match=f"{layout.venv}/bin/ruff not found"):
        series.main(["check"])
    (layout.root / "tests").mkdir()
    layout.manifest.write_text("tests/test_b.py::test_b exclude slow\n")
    capsys.readouterr()
    series.main(["test-files"])
    assert capsys.readouterr().out == (
        "tests/test_a.py\ntests/test_b.py\n--deselect=tests/test_b.py::test_b\n"
    )
    (layout.tree / "README.md").write_text("wip\n")
    assert series.main(["status"]) == 0
    with pytest.raises(SeriesError, match="uncommitted"):
        series.main(["status", "--require-clean"])


def test_main_fetch_clones_with_vllm_git_url(
    root_env: Env,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layout, pin = root_env
    fetch.fetch(layout, pin)  # build/src exists already
    upstream = tmp_path / "upstream-git"
    upstream.mkdir()
    git(upstream, "init", "-q")
    (upstream / "f.py").write_text("x = 1\n")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "release")
    git(upstream, "tag", TAG)
    monkeypatch.setenv("VLLM_GIT_URL", f"file://{upstream}")
    assert series.main(["fetch"]) == 0
    dest = layout.src / "vllm-0.0.1-git"
    assert capsys.readouterr().out == f"pristine source: {dest}\n"
    assert (dest / "f.py").read_text() == "x = 1\n"
    assert not list(layout.src.glob("*.tmp-*"))


def test_staged_builds_next_to_its_destination(tmp_path: Path) -> None:
    """fetch.staged: a temporary sibling (so the final rename stays on one
    filesystem), parents made as needed, removed at the end whatever the
    step did with it, and nothing at the destination after a failure."""
    dest = tmp_path / "a" / "b" / "vllm-1"
    with fetch.staged(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.name.startswith("vllm-1.tmp-")
        (tmp / "f").write_text("x")
        tmp.rename(dest)  # the staged directory itself moved into place
    assert (dest / "f").read_text() == "x"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["vllm-1"]
    other = dest.parent / "vllm-2"  # an existing parent
    with pytest.raises(RuntimeError), fetch.staged(other) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["vllm-1"]
