# SPDX-License-Identifier: Apache-2.0
"""Tests of scripts/series.py on small synthetic trees (seconds, no network)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import series  # noqa: E402
from series import Layout, Pin, SeriesError  # noqa: E402

TAG = "v0.0.1"
GOOD_TRAILERS = (
    "Upstream: https://github.com/vllm-project/vllm/pull/1\n"
    "Backport-notes: none needed\n"
    "Signed-off-by: Dev <dev@example.com>"
)


def make_sdist(path: Path, files: dict[str, str], top: str = "pkg-0.0.1") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


SOURCE = {
    "README.md": "pristine\n",
    "pkg/mod.py": "".join(f"line {i}\n" for i in range(20)),
    "pkg/other.py": "x = 1\n",
    "PKG-INFO": "Metadata-Version: 2.1\n",
    ".gitignore": "*.so\n/pkg/_version.py\n/data/\n",
    "data/table.json": "{}\n",
    "pkg/_version.py": "__version__ = '0.0.1'\n",
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Layout, Pin]:
    for key, value in {
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }.items():
        monkeypatch.setenv(key, value)
    sdist = tmp_path / "upstream" / "pkg-0.0.1.tar.gz"
    sdist.parent.mkdir()
    data = make_sdist(sdist, SOURCE)
    pin = Pin(
        tag=TAG,
        version="0.0.1",
        sdist_name=sdist.name,
        sdist_url=f"file://{sdist}",
        sdist_sha256=hashlib.sha256(data).hexdigest(),
        sdist_size=len(data),
    )
    layout = Layout(
        root=tmp_path, build=tmp_path / "build", patches=tmp_path / "patches"
    )
    return layout, pin


def fetch_and_apply(layout: Layout, pin: Pin, force: bool = False) -> str:
    series.fetch(layout, pin)
    return series.apply(layout, pin, force=force)


def git(tree: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(tree), *args], check=True, capture_output=True, text=True
    ).stdout


def commit(tree: Path, path: str, text: str, subject: str) -> None:
    (tree / path).parent.mkdir(parents=True, exist_ok=True)
    (tree / path).write_text(text)
    git(tree, "add", path)
    msg = f"{subject}\n\nWhy this change.\n\n{GOOD_TRAILERS}\n"
    git(tree, "commit", "-q", "-m", msg)


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
    series.export(layout, pin)
    return series.patch_files(layout.patches)


# --------------------------------------------------------------------- fetch


def test_fetch_verifies_and_unpacks(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    src = series.fetch(layout, pin)
    assert (src / "pkg" / "mod.py").read_text() == SOURCE["pkg/mod.py"]
    assert (layout.downloads / pin.sdist_name).is_file()
    assert not list(layout.downloads.glob("*.part"))


def test_fetch_checksum_mismatch(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    bad = Pin(**{**pin.__dict__, "sdist_sha256": "0" * 64})
    with pytest.raises(SeriesError, match="checksum mismatch"):
        series.fetch(layout, bad)
    assert not (layout.downloads / pin.sdist_name).exists()
    assert not list(layout.downloads.glob("*"))
    assert not layout.src.exists() or not list(layout.src.iterdir())


def test_cached_sdist_corrupted_is_reported(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    series.fetch(layout, pin)
    cached = layout.downloads / pin.sdist_name
    data = bytearray(cached.read_bytes())
    data[100] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(SeriesError, match="checksum mismatch.*make fetch"):
        series.fetch(layout, pin)


def test_cached_sdist_truncated_is_reported(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    series.fetch(layout, pin)
    cached = layout.downloads / pin.sdist_name
    cached.write_bytes(cached.read_bytes()[:50])
    with pytest.raises(SeriesError, match="truncated"):
        series.fetch(layout, pin)


def test_no_network_is_one_clear_error(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    offline = Pin(**{**pin.__dict__, "sdist_url": "http://127.0.0.1:9/x.tar.gz"})
    with pytest.raises(SeriesError, match="cannot download .*no network"):
        series.fetch(layout, offline)
    assert not list(layout.downloads.glob("*"))


def test_corrupt_archive_leaves_nothing_unpacked(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    junk = layout.root / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    data = junk.read_bytes()
    bad = Pin(
        **{
            **pin.__dict__,
            "sdist_url": f"file://{junk}",
            "sdist_sha256": hashlib.sha256(data).hexdigest(),
            "sdist_size": len(data),
        }
    )
    with pytest.raises(SeriesError, match="cannot unpack"):
        series.fetch(layout, bad)
    assert list(layout.src.iterdir()) == []


# ---------------------------------------------------------------- apply/export


def test_pristine_tree(env: tuple[Layout, Pin]) -> None:
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


def test_pristine_root_commit_is_reproducible(
    env: tuple[Layout, Pin], tmp_path: Path
) -> None:
    layout, pin = env
    fetch_and_apply(layout, pin)
    other = Layout(root=tmp_path, build=tmp_path / "build2", patches=layout.patches)
    fetch_and_apply(other, pin)
    assert git(layout.tree, "rev-parse", TAG) == git(other.tree, "rev-parse", TAG)


def test_export_apply_round_trip_is_byte_stable(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    assert [p.name for p in patches] == [
        "0001-Model-First-change.patch",
        "0002-Bugfix-Second-change.patch",
    ]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in patches}
    assert "0000000000000000000000000000000000000000" in patches[0].read_text()
    # Export of an unchanged branch: nothing rewritten.
    assert "0 written, 0 removed" in series.export(layout, pin)
    assert {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in series.patch_files(layout.patches)
    } == before
    # Fresh apply from patches/, export again: same bytes.
    import shutil

    shutil.rmtree(layout.tree)
    assert "applied 2 now" in fetch_and_apply(layout, pin)
    series.export(layout, pin)
    assert {p.name: p.read_bytes() for p in series.patch_files(layout.patches)} == {
        k: v[0] for k, v in before.items()
    }


def test_apply_is_idempotent(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    head = git(layout.tree, "rev-parse", "HEAD")
    assert "already up to date" in fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD") == head


def test_apply_takes_new_patches(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")  # as if pulled later
    assert "applied 1 now" in fetch_and_apply(layout, pin)
    assert series.compare_with_patches(layout.tree, TAG, patches).carried == 2


def test_apply_refuses_uncommitted_edit(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    edited = layout.tree / "pkg" / "other.py"
    edited.write_text("x = 2  # my work\n")
    with pytest.raises(SeriesError, match="uncommitted.*make export.*FORCE=1"):
        fetch_and_apply(layout, pin)
    assert edited.read_text() == "x = 2  # my work\n"


def test_apply_refuses_unexported_commit(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    commit(layout.tree, "pkg/other.py", "x = 3\n", "[Model] Not exported")
    head = git(layout.tree, "rev-parse", "HEAD")
    with pytest.raises(SeriesError, match=r"1 commit\(s\).*Not exported.*make export"):
        fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD") == head


def test_apply_force_discards_but_keeps_a_backup(env: tuple[Layout, Pin]) -> None:
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
    refs = git(
        layout.tree, "for-each-ref", "--format=%(objectname)", "refs/backups/"
    ).split()
    assert lost_head in refs
    assert "my edit" in git(layout.tree, "stash", "show", "-p", "stash@{0}")


def test_conflicting_patch_is_named_and_tree_left_at_last_good(
    env: tuple[Layout, Pin],
) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    # A third patch whose context does not exist in the tree.
    bad = patches[0].read_text().replace("line 2\n", "line 2 changed upstream\n")
    bad = bad.replace("[Model] First change", "[Model] Third change")
    (layout.patches / "0003-Model-Third-change.patch").write_text(bad)
    head = git(layout.tree, "rev-parse", "HEAD")
    with pytest.raises(
        SeriesError,
        match=r"0003-Model-Third-change.patch does not apply "
        r"\(conflicts in pkg/mod.py\).*0002-Bugfix",
    ):
        fetch_and_apply(layout, pin)
    assert git(layout.tree, "rev-parse", "HEAD") == head
    assert series.in_progress(layout.tree) is None
    assert series.dirty_files(layout.tree) == []


def test_malformed_patch_is_named(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    (layout.patches / "0003-garbage.patch").write_text("this is not a patch\n")
    with pytest.raises(SeriesError, match="0003-garbage.patch does not apply"):
        fetch_and_apply(layout, pin)
    assert series.in_progress(layout.tree) is None


def test_export_removes_dropped_patches_and_refuses_dirty_tree(
    env: tuple[Layout, Pin],
) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    git(layout.tree, "reset", "-q", "--hard", "HEAD~1")
    assert "1 removed" in series.export(layout, pin)
    assert [p.name for p in series.patch_files(layout.patches)] == [
        "0001-Model-First-change.patch"
    ]
    (layout.tree / "README.md").write_text("edit\n")
    with pytest.raises(SeriesError, match="uncommitted changes.*README.md"):
        series.export(layout, pin)


def test_status_require_clean(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    assert "2/2 patch(es)" in series.status(layout, pin, require_clean=True)
    (layout.tree / "README.md").write_text("edit\n")
    with pytest.raises(SeriesError, match="uncommitted"):
        series.status(layout, pin, require_clean=True)


# --------------------------------------------------------------------- check


def test_check_message_good_and_bad(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    assert series.check_message(patches[0]) == []
    text = patches[0].read_text()
    bad = layout.root / "bad.patch"
    bad.write_text(
        text.replace("Backport-notes: none needed\n", "").replace(
            "Signed-off-by: Dev <dev@example.com>\n", ""
        )
    )
    problems = series.check_message(bad)
    assert "no Signed-off-by: trailer" in problems
    assert "a backport needs a Backport-notes: trailer" in problems
    bodyless = layout.root / "bodyless.patch"
    bodyless.write_text(text.replace("Why this change.\n\n", ""))
    assert "no body (what and why)" in series.check_message(bodyless)


def test_check_catches_fuzzy_patch(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    patches = two_patch_series(layout, pin)
    assert series.check(layout, pin, ruff=None).startswith("2 patch(es) OK")
    fuzzy = patches[0].read_text().replace(" line 0\n", " line zero\n", 1)
    patches[0].write_text(fuzzy)
    with pytest.raises(
        SeriesError, match="0001-Model-First-change.patch: does not apply cleanly"
    ):
        series.check(layout, pin, ruff=None)


def test_test_files_from_patches_and_manifest(env: tuple[Layout, Pin]) -> None:
    layout, pin = env
    two_patch_series(layout, pin)
    manifest = layout.root / "manifest.txt"
    manifest.write_text("# comment\npkg/other.py run  # stands in for a test\n")
    assert series.test_files(layout, manifest) == ["tests/test_new.py", "pkg/other.py"]
    manifest.write_text("tests/test_new.py exclude needs a GPU\n")
    assert series.test_files(layout, manifest) == []
    manifest.write_text("tests/missing.py run\n")
    with pytest.raises(SeriesError, match="does not exist"):
        series.test_files(layout, manifest)
    manifest.write_text("tests/test_new.py exclude\n")
    with pytest.raises(SeriesError, match="needs a reason"):
        series.test_files(layout, manifest)
    manifest.write_text("pkg/other.py run\ntests/test_new.py::test_x exclude slow\n")
    assert series.test_files(layout, manifest) == ["tests/test_new.py", "pkg/other.py"]
    assert series.deselected(manifest) == ["tests/test_new.py::test_x"]


def test_read_kv_rejects_garbage(tmp_path: Path) -> None:
    f = tmp_path / "VERSION"
    f.write_text("A=1\nnot a pair\n")
    with pytest.raises(SeriesError, match="VERSION:2: expected KEY=VALUE"):
        series.read_kv(f)


def test_git_url_gives_the_same_tree_as_the_sdist(
    env: tuple[Layout, Pin], tmp_path: Path
) -> None:
    layout, pin = env
    fetch_and_apply(layout, pin)
    # An upstream-like git repo of the same release: no sdist-only files,
    # no generated _version.py, the force-added data file tracked.
    upstream = tmp_path / "upstream-git"
    upstream.mkdir()
    git(upstream, "init", "-q")
    for name, text in SOURCE.items():
        if name in ("PKG-INFO", "pkg/_version.py"):
            continue
        (upstream / name).parent.mkdir(parents=True, exist_ok=True)
        (upstream / name).write_text(text)
    git(upstream, "add", "-A")
    git(upstream, "add", "-f", "data/table.json")
    git(upstream, "commit", "-q", "-m", "release")
    git(upstream, "tag", TAG)
    other = Layout(root=tmp_path, build=tmp_path / "build-git", patches=layout.patches)
    src = series.fetch(other, pin, git_url=f"file://{upstream}")
    assert not (src / ".git").exists()
    series.init_tree(src, other.tree, TAG)
    assert git(other.tree, "rev-parse", f"{TAG}^{{tree}}") == git(
        layout.tree, "rev-parse", f"{TAG}^{{tree}}"
    )


def test_git_url_clone_failure_is_one_clear_error(
    env: tuple[Layout, Pin], tmp_path: Path
) -> None:
    layout, pin = env
    with pytest.raises(SeriesError, match=f"clone .* at {TAG} failed"):
        series.fetch(layout, pin, git_url=f"file://{tmp_path}/nowhere")
    assert not list(layout.src.glob("*"))


def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(SeriesError, match="frobnicate failed: no-such-prog-x"):
        series.run(["no-such-prog-x"], what="frobnicate")
