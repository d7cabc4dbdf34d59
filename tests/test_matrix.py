# SPDX-License-Identifier: Apache-2.0
"""The release matrix (scripts/matrix.py) on small synthetic releases served
by a fake package index, under a hostile git config (seconds, no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _tooling import SOURCE, TAG, commit, git, make_sdist, use_hostile_git

import matrix
import matrix_report
import matrix_trees
import runlock
import series
import tree
from errors import SeriesError
from pin import Artifact, Layout, Pin

MOD = SOURCE["pkg/mod.py"]


@pytest.fixture(autouse=True)
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_hostile_git(tmp_path, monkeypatch)


@dataclass(frozen=True)
class FakeFile:
    filename: str
    version: str
    url: str
    sha256: str | None


class FakeIndex:
    """index.py's interface over a directory of sdists; counts downloads."""

    def __init__(self, root: Path, extra_versions: tuple[str, ...] = ()) -> None:
        self.root = root
        self.extra = extra_versions
        self.downloaded: list[str] = []
        self.asked: list[tuple[str, str]] = []
        self.no_hash: set[str] = set()

    def find_files(self, project: str, version: str | None = None) -> list[FakeFile]:
        assert project == "vllm"
        files = []
        for p in sorted(self.root.glob("vllm-*.tar.gz")):
            v = p.name.removeprefix("vllm-").removesuffix(".tar.gz")
            sha = None if v in self.no_hash else hashlib.sha256(p.read_bytes())
            files.append(FakeFile(p.name, v, str(p), sha and sha.hexdigest()))
        return [f for f in files if version in (None, f.version)]

    def versions(self, project: str) -> list[str]:
        return [f.version for f in self.find_files(project)] + list(self.extra)

    def download(self, f: FakeFile, dest_dir: Path, sha256: str, size: object) -> Path:
        """Records what it is asked for (the real one verifies `sha256`)."""
        self.asked.append((f.filename, sha256))
        if (dest_dir / f.filename).exists():
            return dest_dir / f.filename
        self.downloaded.append(f.filename)
        dest_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(f.url, dest_dir / f.filename))


def sdist_artifact(version: str) -> Artifact:
    """An Artifact whatever fields it has (the matrix reads the pin's tag and
    version only; its sdist comes from the index)."""
    values = {"name": f"vllm-{version}.tar.gz", "url": "unused", "sha256": "0" * 64}
    values["size"] = 0
    return Artifact(**{f.name: values[f.name] for f in dataclasses.fields(Artifact)})


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lines(changes: dict[int, str], n: int = 20) -> str:
    return "".join(f"{changes.get(i, f'line {i}')}\n" for i in range(n))


# Releases, by hand: what each does to the files the series touches.
RELEASES = {
    "0.0.1": {},  # the pin
    # five lines added between the hunks: patch 4's hunk moves, still matches
    "0.0.2": {"pkg/mod.py": lines({8: "line 8\n" + "new\n" * 5})},
    # line 5 changed: in the context of patch 1 (line 3), not next to it
    "0.0.3": {"pkg/mod.py": lines({5: "line 5 upstream"})},
    # has patch 1 already; changed the line patch 2 changes
    "0.0.4": {"pkg/mod.py": lines({3: "LINE 3"}), "pkg/other.py": "x = 5\n"},
    # pkg/other.py removed
    "0.0.5": {"pkg/other.py": None},
}
# The series, by hand: (subject, file, new text), each on top of the previous.
PATCHES = [
    ("[A] One", "pkg/mod.py", lines({3: "LINE 3"})),
    ("[B] Two", "pkg/other.py", "x = 2\n"),
    ("[C] Three", "tests/test_new.py", "def test_x():\n    pass\n"),
    ("[D] Four", "pkg/mod.py", lines({3: "LINE 3", 15: "LINE 15"})),
    ("[E] Five", "pkg/other.py", "x = 3\n"),
]
CLEAN = matrix.Outcome("clean")
EXPECTED = {
    "0.0.1": [CLEAN] * 5,
    "0.0.2": [CLEAN] * 5,
    "0.0.3": [matrix.Outcome("3way"), CLEAN, CLEAN, CLEAN, CLEAN],
    "0.0.4": [
        matrix.Outcome("present"),
        matrix.Outcome("conflict", ("pkg/other.py",)),
        CLEAN,
        CLEAN,
        # builds on the skipped patch 2
        matrix.Outcome("conflict", ("pkg/other.py",)),
    ],
    "0.0.5": [
        CLEAN,
        matrix.Outcome("conflict", ("pkg/other.py",)),
        CLEAN,
        CLEAN,
        matrix.Outcome("conflict", ("pkg/other.py",)),
    ],
}


def release_files(version: str) -> dict[str, str]:
    files = dict(SOURCE)
    for path, text in RELEASES[version].items():
        if text is None:
            del files[path]
        else:
            files[path] = text
    return files


@dataclass
class World:
    layout: Layout
    pin: Pin
    index: FakeIndex


def make_world(tmp_path: Path) -> World:
    served = tmp_path / "index"
    for version in RELEASES:
        make_sdist(
            served / f"vllm-{version}.tar.gz",
            release_files(version),
            top=f"vllm-{version}",
        )
    root = tmp_path / "checkout"
    layout = Layout(root=root, build=root / "build", patches=root / "patches")
    # The series is written in a tree of the pin made as `make apply` makes it.
    author = tmp_path / "author"
    src = tmp_path / "src"
    make_sdist(tmp_path / "pin.tar.gz", SOURCE, top="vllm-0.0.1")
    tree.init_tree(series.fetch.unpack_sdist(tmp_path / "pin.tar.gz", src), author, TAG)
    for subject, path, text in PATCHES:
        commit(author, path, text, subject)
    tree.format_patches(author, TAG, layout.patches)
    pin = Pin(TAG, "0.0.1", sdist_artifact("0.0.1"))
    index = FakeIndex(served, extra_versions=("0.0.0",))
    return World(layout, pin, index)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, dict]:
    """One run over every release, shared by the tests that only read it."""
    tmp = tmp_path_factory.mktemp("computed")
    with pytest.MonkeyPatch.context() as mp:
        use_hostile_git(tmp, mp)
        w = make_world(tmp)
        return w, run(w)


def outcomes(doc: dict[str, object]) -> dict[str, list[matrix.Outcome]]:
    return {
        rel["version"]: [
            matrix.Outcome(r["status"], tuple(r["files"]))
            for r in rel["results"]
            if r["file"] == (r["files"] or [None])[0]
        ]
        for rel in doc["releases"]  # type: ignore[attr-defined]
    }


def run(world: World, first: str = "0.0.1") -> dict[str, object]:
    return matrix.build_matrix(world.index, world.layout, world.pin, first)


def test_each_patch_of_each_release(computed: tuple[World, dict]) -> None:
    world, doc = computed
    assert outcomes(doc) == EXPECTED
    assert [p["subject"] for p in doc["patches"]] == [s for s, _, _ in PATCHES]
    assert doc["pin"] == TAG
    # every sdist is asked of index.download with the index's own sha256
    assert sorted(world.index.asked) == [
        (f"vllm-{v}.tar.gz", sha256_of(world.index.root / f"vllm-{v}.tar.gz"))
        for v in RELEASES
    ]
    assert all(
        rel["sdist_sha256"] == sha256_of(world.index.root / rel["sdist"])
        for rel in doc["releases"]
    )
    # the trees at rest hold their git dir only (half the disk)
    for version in RELEASES:
        t = world.layout.build / "matrix" / f"vllm-{version}"
        assert [p.name for p in t.iterdir()] == [".git"]


def test_a_release_tree_is_made_as_make_apply_makes_build_vllm(
    computed: tuple[World, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = computed
    layout = Layout(root=tmp_path, build=tmp_path / "build", patches=tmp_path / "p")
    archive = world.index.root / "vllm-0.0.1.tar.gz"
    monkeypatch.setattr(
        series.fetch,
        "fetch",
        lambda *a: series.fetch.unpack_sdist(archive, tmp_path / "src"),
    )
    series.apply(layout, world.pin)
    matrix_tree = world.layout.build / "matrix" / "vllm-0.0.1"
    assert git(matrix_tree, "rev-parse", TAG) == git(layout.tree, "rev-parse", TAG)


def test_a_repeated_run_uses_the_cache(
    computed: tuple[World, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, first = computed
    assert sorted(world.index.downloaded) == [f"vllm-{v}.tar.gz" for v in RELEASES]
    made: list[Path] = []
    real_init = tree.init_tree
    monkeypatch.setattr(
        tree, "init_tree", lambda *a: made.append(a[1]) or real_init(*a)
    )
    monkeypatch.setattr(matrix, "classify", lambda *a: pytest.fail("applied again"))
    again = run(world)
    assert len(world.index.downloaded) == len(RELEASES)
    assert made == []
    assert outcomes(again) == outcomes(first)


def test_a_new_sdist_makes_a_new_tree(world: World) -> None:
    """A tree is kept only with the checksum of the sdist it was made from."""
    run(world, first="0.0.4")
    make_sdist(
        world.index.root / "vllm-0.0.5.tar.gz", release_files("0.0.3"), "vllm-0.0.5"
    )
    (world.layout.downloads / "vllm-0.0.5.tar.gz").unlink()
    doc = run(world, first="0.0.4")
    assert outcomes(doc)["0.0.5"] == EXPECTED["0.0.3"]


def test_an_interrupted_run_recovers(world: World) -> None:
    run(world, first="0.0.4")
    t = world.layout.build / "matrix" / "vllm-0.0.4"
    (tree.git_dir(t) / matrix.RESULT_RECORD).unlink()
    patch = sorted(world.layout.patches.glob("0002-*.patch"))[0]
    proc = matrix.git_run(t, *matrix.THREE_WAY_AM, str(patch), check=False)
    assert proc.returncode != 0 and tree.in_progress(t) == "git am"
    (t / "stray.txt").write_text("left behind\n")
    doc = run(world, first="0.0.4")
    assert outcomes(doc)["0.0.4"] == EXPECTED["0.0.4"]


def test_the_series_changed_since_the_last_run(world: World, tmp_path: Path) -> None:
    run(world, first="0.0.4")
    # a sixth patch, made on top of the others in the pin's tree
    t = world.layout.build / "matrix" / "vllm-0.0.1"
    git(t, "checkout", "-q", matrix_trees.SERIES_REF)
    commit(t, "pkg/other.py", "x = 4\n", "[F] Six")
    (new,) = tree.format_patches(t, matrix_trees.SERIES_REF, tmp_path / "new")
    new.rename(world.layout.patches / new.name.replace("0001-", "0006-"))
    doc = run(world, first="0.0.4")
    # on 0.0.4 and 0.0.5 the patches changing pkg/other.py are skipped
    six = matrix.Outcome("conflict", ("pkg/other.py",))
    assert outcomes(doc) == {v: [*EXPECTED[v], six] for v in ("0.0.4", "0.0.5")}


def test_releases_before_first_and_prereleases_are_left_out(world: World) -> None:
    world.index.extra += ("0.0.9rc1", "0.0.9.dev2", "0.0.9+cpu")
    doc = run(world, first="0.0.4")
    assert [r["version"] for r in doc["releases"]] == ["0.0.4", "0.0.5"]


def test_release_order() -> None:
    given = ["0.10.0", "0.9.0", "0.19.0rc1", "0.20.0.post1", "0.100.0"]
    given += ["0.20.0", "0.18.9", "1.0.0.dev1", "0.19.0", "0.20.0+cpu"]
    assert matrix.releases(given, "0.19.0") == [
        "0.19.0",
        "0.20.0",
        "0.20.0.post1",
        "0.100.0",
    ]


def test_an_sdist_without_a_checksum_is_refused(world: World) -> None:
    world.index.no_hash.add("0.0.3")
    with pytest.raises(SeriesError, match=r"no sha256 for vllm-0\.0\.3\.tar\.gz"):
        run(world)


def test_a_release_without_an_sdist_is_named(world: World) -> None:
    world.index.extra = ("0.0.6",)
    with pytest.raises(SeriesError, match=r"no sdist vllm-0\.0\.6\.tar\.gz"):
        run(world)


def test_first_conflicting_file_is_in_the_patchs_order(tmp_path: Path) -> None:
    patch = tmp_path / "p.patch"
    patch.write_text(
        "Subject: x\n\n---\n"
        "diff --git a/z/first.py b/z/first.py\n--- a/z/first.py\n+++ b/z/first.py\n"
        "diff --git a/a/second.py b/a/second.py\n--- a/a/second.py\n+++ /dev/null\n"
    )
    assert matrix.diff_paths(patch) == ["z/first.py", "a/second.py"]
    assert matrix.in_patch_order(["x.py", "a/second.py", "z/first.py"], patch) == (
        "z/first.py",
        "a/second.py",
        "x.py",
    )
    assert matrix.Outcome("conflict", ("z/first.py", "a/second.py")).file == (
        "z/first.py"
    )
    assert matrix.Outcome("clean").file is None


def test_the_written_files(computed: tuple[World, dict], tmp_path: Path) -> None:
    _, doc = computed
    md, js = matrix_report.write(doc, tmp_path / "docs")[::-1]
    assert json.loads(js.read_text()) == doc
    text = md.read_text()
    names = [p["name"] for p in doc["patches"]]
    assert all(n.startswith(f"000{i}-") for i, n in enumerate(names, 1))
    # by release, by hand from EXPECTED
    assert "| 0.0.1 | 0001-0005 |  |  |  |" in text
    assert "| 0.0.3 | 0002-0005 | 0001 |  |  |" in text
    assert "| 0.0.4 | 0003-0004 |  | 0001 | 0002, 0005 |" in text
    assert "| 0.0.5 | 0001, 0003-0004 |  |  | 0002, 0005 |" in text
    # by patch
    assert "| patch | 0.0.1 | 0.0.2 | 0.0.3 | 0.0.4 | 0.0.5 |" in text
    assert "| 0001 [A] One | ✓ | ✓ | 3w | in | ✓ |" in text
    assert "| 0002 [B] Two | ✓ | ✓ | ✓ | ✗ | ✗ |" in text
    # the conflicting files, consecutive releases together
    assert "| 0002 | 0.0.4-0.0.5 | `pkg/other.py` |" in text
    assert "| 0005 | 0.0.4-0.0.5 | `pkg/other.py` |" in text
    assert "from 0.0.1 to 0.0.5" in text and doc["generated"] in text


def test_ranges() -> None:
    names = [f"{i:04d}-x.patch" for i in range(1, 9)]
    assert (
        matrix_report.ranges([0, 1, 2, 4, 6, 7], names) == "0001-0003, 0005, 0007-0008"
    )
    assert matrix_report.ranges([], names) == ""


def test_the_cli_writes_docs_with_the_configured_index(
    computed: tuple[World, dict],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world, doc = computed
    monkeypatch.setenv("SERIES_ROOT", str(world.layout.root))
    monkeypatch.setitem(sys.modules, "index", world.index)  # `import index`
    monkeypatch.setattr(matrix.Pin, "load", lambda path: world.pin)
    assert matrix.main(["--first", "0.0.1"]) == 0
    written = json.loads((world.layout.root / "docs" / "matrix.json").read_text())
    assert written["releases"] == doc["releases"]
    assert (
        (world.layout.root / "docs" / "matrix.md")
        .read_text()
        .startswith("# Release matrix")
    )
    out = capsys.readouterr().out
    assert "vllm 0.0.4: 2 clean, 1 in it, 2 conflict (kept from the last run)" in out
    runlock.release(world.layout.lock_file)


def test_no_release_from_first_on_is_one_clear_error(world: World) -> None:
    with pytest.raises(SeriesError, match=r"no final vllm release from 9\.0\.0"):
        run(world, first="9.0.0")


def test_a_series_that_does_not_apply_to_its_pin_is_refused(world: World) -> None:
    bad = sorted(world.layout.patches.glob("0002-*.patch"))[0]
    bad.write_text(bad.read_text().replace("-x = 1", "-x = 7"))
    with pytest.raises(SeriesError, match=r"0002-.*does not apply.*pkg/other\.py"):
        run(world)


def test_the_sdist_is_the_listing_that_gives_a_checksum() -> None:
    listed = [
        FakeFile("vllm-1.0.tar.gz", "1.0", "mirror", None),
        FakeFile("vllm-1.0-py3-none-any.whl", "1.0", "w", "a" * 64),
        FakeFile("vllm-1.0.tar.gz", "1.0", "index", "b" * 64),
    ]
    assert matrix.sdist_of(listed, "1.0").url == "index"
    with pytest.raises(SeriesError, match=r"no sha256 for vllm-1\.0\.tar\.gz"):
        matrix.sdist_of(listed[:2], "1.0")


def test_through_a_real_package_index(world: World) -> None:
    """The same releases on a PEP 503 index (file://, as pip is configured in
    the tests), read by scripts/index.py itself: the release list, the
    downloads checked against the index's sha256, the same outcomes."""
    import index
    from _index import publish

    for p in sorted(world.index.root.glob("vllm-*.tar.gz")):
        publish(p)
    doc = matrix.build_matrix(index, world.layout, world.pin, "0.0.1")
    assert outcomes(doc) == EXPECTED
    for rel in doc["releases"]:  # type: ignore[attr-defined]
        got = world.layout.downloads / rel["sdist"]
        assert rel["sdist_sha256"] == sha256_of(got)
        assert got.read_bytes() == (world.index.root / rel["sdist"]).read_bytes()
    # a file the index's hash does not match is refused, not used
    changed = world.index.root / "vllm-0.0.3.tar.gz"
    publish(changed, sha256="0" * 64)
    (world.layout.downloads / changed.name).unlink()
    shutil.rmtree(world.layout.build / "matrix")
    with pytest.raises(
        SeriesError,
        match="refusing vllm-0.0.3.tar.gz from the package index: checksum mismatch: "
        "expected sha256 0{64}, got " + sha256_of(changed) + "$",
    ):
        matrix.build_matrix(index, world.layout, world.pin, "0.0.1")
    assert not (world.layout.downloads / changed.name).exists()
