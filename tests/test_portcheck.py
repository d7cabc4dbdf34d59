# SPDX-License-Identifier: Apache-2.0
"""scripts/portcheck.py (`make upstream-check`) on a small synthetic pin: a
patch passes only if its tests fail without its fix and pass with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _tooling import SCRIPTS, TAG, commit, git, use_hostile_git

import portcheck
import runlock
import tree as tree_mod
from errors import SeriesError
from pin import Artifact, Layout, Pin
from run_tests import Counts

SOURCE = {
    ".gitignore": "*.so\n/vllm/_version.py\n",
    "vllm/__init__.py": "",
    "calc.py": "def add(a, b):\n    return a - b\n\n\ndef two():\n    return 2\n",
    "other.py": "def three():\n    return 4\n",
}
# patch, file it fixes, fixed text, its test
PATCHES = [
    (
        "Fix add",
        "calc.py",
        "def add(a, b):\n    return a + b\n\n\ndef two():\n    return 2\n",
        "tests/test_add.py",
        "from pathlib import Path\n\nimport calc\n\n\n"
        "def test_add():\n    assert calc.add(2, 3) == 5\n\n\n"
        "def test_the_tree_has_its_kernels():\n"
        "    here = Path(__file__).resolve().parent.parent\n"
        "    assert (here / 'vllm' / '_C.abi3.so').read_text() == 'kernel'\n",
    ),
    (
        "Fix nothing",
        "other.py",
        "def three():\n    return 4  # still wrong\n",
        "tests/test_two.py",
        "import calc\n\n\ndef test_two():\n    assert calc.two() == 2\n",
    ),
    (
        "Fix three wrongly",
        "other.py",
        "def three():\n    return 5\n",
        "tests/test_three.py",
        "import other\n\n\ndef test_three():\n    assert other.three() == 3\n",
    ),
]


@pytest.fixture(autouse=True)
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_hostile_git(tmp_path, monkeypatch)


@pytest.fixture
def pinned(tmp_path: Path) -> tuple[Layout, Pin]:
    """Pin `up`: a release tree with an untracked compiled module and three
    patches (one right, one whose test passes without it, one that does not
    fix its test), each with its tests in up/TESTS."""
    src = tmp_path / "src"
    for name, text in SOURCE.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "VERSION").write_text("")
    layout = Layout.for_pin(tmp_path, tmp_path / "build", "up")
    tree_mod.init_tree(src, layout.tree, TAG)
    (layout.tree / "vllm" / "_C.abi3.so").write_text("kernel")
    (layout.tree / "vllm" / "_version.py").write_text("v = 1\n")
    lines = []
    for subject, path, text, test, test_text in PATCHES:
        commit(layout.tree, test, test_text, f"[T] {subject}")
        git(layout.tree, "reset", "-q", "--soft", "HEAD~1")
        commit(layout.tree, path, text, f"[Bugfix] {subject}")
        lines.append(test)
    patches = tree_mod.format_patches(layout.tree, TAG, layout.patches)
    layout.port_tests.write_text(
        "# the tests of each patch\n\n"
        + "".join(f"{p.name}: {t} -p no:randomly\n" for p, t in zip(patches, lines))
    )
    git(layout.tree, "checkout", "-q", TAG)
    sdist = Artifact("s.tar.gz", "0" * 64, 1)
    return layout, Pin(TAG, "0.0.1", sdist)


def test_each_patch_before_and_after(pinned: tuple[Layout, Pin]) -> None:
    layout, pin = pinned
    head = git(layout.tree, "rev-parse", "HEAD")
    rows = portcheck.check(layout, pin, [], jobs=2, python=Path(sys.executable))
    names = [p.name for p in sorted(layout.patches.glob("*.patch"))]
    assert [r.patch for r in rows] == names
    assert [portcheck.cell(r.before) for r in rows] == [
        "1 failed, 1 passed",  # add is wrong; the kernel link is there
        "1 passed",  # the test does not test the fix
        "1 failed",
    ]
    assert [portcheck.cell(r.after) for r in rows] == [
        "2 passed",
        "1 passed",
        "1 failed",
    ]
    assert [r.ok for r in rows] == [True, False, False]
    # what each worktree links: the build's compiled modules and version file
    assert portcheck.untracked_modules(layout.tree) == [
        layout.tree / "vllm" / "_C.abi3.so",
        layout.tree / "vllm" / "_version.py",
    ]
    assert rows[0].markdown() == f"| {names[0]} | 1 failed, 1 passed | 2 passed |"
    # the tree is as it was: same commit, no worktree left
    assert git(layout.tree, "rev-parse", "HEAD") == head
    assert len(git(layout.tree, "worktree", "list").splitlines()) == 1
    assert git(layout.tree, "status", "--porcelain") == ""


def test_only_named_patches_on_top_of_the_earlier_ones(
    pinned: tuple[Layout, Pin],
) -> None:
    layout, pin = pinned
    names = [p.name for p in sorted(layout.patches.glob("*.patch"))]
    # 0003's tests, with 0001 and 0002 applied first
    rows = portcheck.check(layout, pin, [names[2]], jobs=1, python=Path(sys.executable))
    assert [(r.patch, r.ok) for r in rows] == [(names[2], False)]
    with pytest.raises(SeriesError, match="not a patch of .*: 0009-x.patch"):
        portcheck.check(layout, pin, ["0009-x.patch"], 1, Path(sys.executable))


def test_verdicts() -> None:
    assert portcheck.failed_before(Counts(failed=1))
    assert not portcheck.failed_before(Counts(passed=2))
    # a crash without a report is not evidence of the defect
    assert not portcheck.failed_before(Counts(problems=["pytest exited 4"]))
    assert portcheck.passed_after(Counts(passed=3))
    assert portcheck.passed_after(Counts(passed=1))  # one test is enough
    assert not portcheck.passed_after(Counts(passed=3, skipped=1))
    assert not portcheck.passed_after(Counts(passed=3, failed=1))
    assert not portcheck.passed_after(Counts())
    assert not portcheck.passed_after(Counts(passed=1, problems=["interrupted"]))
    assert portcheck.cell(Counts(problems=["timed out after 1200 s"])) == (
        "timed out after 1200 s"
    )
    assert portcheck.cell(Counts(failed=1, passed=2, skipped=3)) == (
        "1 failed, 2 passed, 3 skipped"
    )
    assert portcheck.cell(Counts()) == "no test ran"
    # a run cut short after some tests: both what ran and why it is no pass
    assert portcheck.cell(Counts(passed=1, failed=1, problems=["a", "b"])) == (
        "1 failed, 1 passed; a; b"
    )


def test_run_pytest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The work tree's code is what the tests import, in pytest and in any
    process a test starts elsewhere (vLLM's tests start engines and servers);
    pytest's output stays out of the table; a hung run is cut off."""
    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    (work / "mod.py").write_text("X = 1\n")
    (work / "tests" / "test_sub.py").write_text(
        "import subprocess, sys\n\n\ndef test_sub():\n"
        "    out = subprocess.run([sys.executable, '-c', 'import mod; print(mod.X)'],"
        " cwd='/', capture_output=True, text=True)\n"
        "    assert out.stdout == '1\\n', out.stderr\n"
    )
    (work / "tests" / "test_slow.py").write_text(
        "import time\n\n\ndef test_slow():\n    time.sleep(30)\n"
    )
    py = Path(sys.executable)
    c = portcheck.run_pytest(py, ["tests/test_sub.py"], work)
    assert (c.passed, c.failed, c.problems) == (1, 0, [])
    assert capfd.readouterr() == ("", "")
    c = portcheck.run_pytest(py, ["-k", "nothing"], work)
    assert c.problems == ["pytest: no test ran"]
    monkeypatch.setattr(portcheck, "TIMEOUT_S", 2)
    c = portcheck.run_pytest(py, ["tests/test_slow.py"], work)
    assert portcheck.cell(c) == "timed out after 2 s"


def test_read_tests(tmp_path: Path) -> None:
    t = tmp_path / "TESTS"
    t.write_text("# c\n\n0001-a.patch: tests/a.py::t -k 'x or y'\n")
    assert portcheck.read_tests(t) == {
        "0001-a.patch": ["tests/a.py::t", "-k", "x or y"]
    }
    for text, message in [
        ("0001-a.patch tests/a.py\n", ":1: expected 'PATCH: pytest arguments'"),
        ("0001-a.patch: \n", ":1: expected"),
        ("a.txt: tests/a.py\n", ":1: expected"),
        ("0001-a.patch: x\n0001-a.patch: y\n", ":2: 0001-a.patch listed twice"),
    ]:
        t.write_text(text)
        with pytest.raises(SeriesError, match=message):
            portcheck.read_tests(t)
    t.unlink()
    with pytest.raises(SeriesError, match="TESTS not found"):
        portcheck.read_tests(t)


def test_a_patch_without_tests_is_refused(pinned: tuple[Layout, Pin]) -> None:
    layout, pin = pinned
    lines = layout.port_tests.read_text().splitlines()
    layout.port_tests.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(SeriesError, match="TESTS lists no tests of 0003-"):
        portcheck.check(layout, pin, [], 1, Path(sys.executable))


def test_cli_prints_the_table_and_fails_on_a_bad_patch(
    pinned: tuple[Layout, Pin],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout, _ = pinned
    (layout.root / "up" / "VERSION").write_text(
        f"VLLM_TAG={TAG}\nVLLM_VERSION=0.0.1\nSDIST_NAME=s\nSDIST_SHA256=0\n"
        "SDIST_SIZE=1\n"
    )
    names = [p.name for p in sorted(layout.patches.glob("*.patch"))]
    monkeypatch.setenv("SERIES_ROOT", str(layout.root))
    monkeypatch.setenv("SERIES_PIN", "up")
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)
    try:
        with pytest.raises(SeriesError, match="venv missing: run `make build`"):
            portcheck.main([names[0]])
        layout.python.parent.mkdir(parents=True)
        layout.python.symlink_to(sys.executable)
        with pytest.raises(SeriesError) as e:
            portcheck.main([names[1]])
        assert str(e.value) == (
            f"1 of 1 patch(es) did not fail before and pass after: {names[1]}"
        )
        assert capsys.readouterr().out.splitlines() == [
            "| port | before (without the fix) | after (with the fix) |",
            "|---|---|---|",
            f"| {names[1]} | 1 passed | 1 passed |",
        ]
        # what a second command is told holds the checkout
        assert layout.lock_file.read_text() == f"pid {os.getpid()}: portcheck.py\n"
        assert portcheck.main(["--jobs", "0", names[0]]) == 0  # (at least one)
        assert capsys.readouterr().out.splitlines()[-1] == (
            f"1 patch(es): each one's tests fail on {TAG}, pass with it"
        )
    finally:
        runlock.release(layout.lock_file)
    # the script itself: the same verdict, in one line
    env = {k: v for k, v in os.environ.items() if k != runlock.HELD_ENV}
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "portcheck.py"), names[1]],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: 1 of 1 patch(es) did not fail before and pass after: {names[1]}"
    )
