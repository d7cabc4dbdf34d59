# SPDX-License-Identifier: Apache-2.0
"""A second pin (`make ... PIN=NAME`): its files, its build directory, the
same targets on it, and the main series left as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _tooling import (
    ROOT,
    SCRIPTS,
    SOURCE,
    commit,
    make_layout,
    make_pin,
    make_sdist,
    write_version_file,
)

import run_tests
import runlock
import series
from errors import SeriesError
from pin import Layout, Pin


def test_main_series_layout_is_unchanged(tmp_path: Path) -> None:
    layout = Layout.for_pin(tmp_path, tmp_path / "build", "")
    assert layout == Layout(tmp_path, tmp_path / "build", tmp_path / "patches")
    assert layout.version_file == tmp_path / "VERSION"
    assert layout.manifest == tmp_path / "tests" / "vllm-tests.txt"
    assert layout.constraints == tmp_path / "scripts" / "constraints.txt"
    assert layout.lock_for("cuda") == tmp_path / "scripts" / "constraints-cuda.txt"
    assert layout.test_requirements == tmp_path / "scripts" / "requirements-test.txt"
    assert layout.tree == tmp_path / "build" / "vllm"
    assert layout.venv == tmp_path / "build" / "venv"
    assert layout.downloads == tmp_path / "build" / "downloads"
    assert layout.lock_file == tmp_path / "build" / ".lock"


def test_a_named_pin_has_its_own_files_and_build(tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "VERSION").write_text("")
    layout = Layout.for_pin(tmp_path, tmp_path / "build", "up")
    up, b = tmp_path / "up", tmp_path / "build" / "up"
    assert layout.version_file == up / "VERSION"
    assert layout.patches == up / "patches"
    assert layout.manifest == up / "vllm-tests.txt"
    assert layout.constraints == up / "constraints.txt"
    assert layout.lock_for("cuda") == up / "constraints-cuda.txt"
    assert layout.test_requirements == up / "requirements-test.txt"
    assert layout.port_tests == up / "TESTS"
    assert (layout.tree, layout.venv, layout.src) == (b / "vllm", b / "venv", b / "src")
    assert layout.lock_file == b / ".lock"  # one run at a time per pin
    # the downloads are shared: a release's files are fetched once
    assert layout.downloads == tmp_path / "build" / "downloads"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", r"PIN=nope: .*nope/VERSION not found \(a pin is a directory"),
        ("../up", "PIN=../up: not a directory name of this checkout"),
        ("up/x", "PIN=up/x: not a directory name"),
        ("build", "PIN=build: not a directory name"),
        (".hidden", "PIN=.hidden: not a directory name"),
    ],
)
def test_a_bad_pin_name_is_one_line(tmp_path: Path, name: str, message: str) -> None:
    for d in ("up", "build", ".hidden"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "VERSION").write_text("")
    with pytest.raises(SeriesError, match=message):
        Layout.for_pin(tmp_path, tmp_path / "build", name)


def test_default_layout_reads_series_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "VERSION").write_text("")
    monkeypatch.setenv("SERIES_ROOT", str(tmp_path))
    monkeypatch.setenv("SERIES_PIN", "up")
    assert Layout.default().tree == tmp_path / "build" / "up" / "vllm"
    monkeypatch.setenv("SERIES_PIN", "")
    assert Layout.default().tree == tmp_path / "build" / "vllm"


BASE = "VLLM_TAG=v1\nVLLM_VERSION=1\nSDIST_NAME=s\nSDIST_SHA256=0\nSDIST_SIZE=1\n"


def test_pin_torch_and_style(tmp_path: Path) -> None:
    v = tmp_path / "VERSION"
    v.write_text(BASE)
    p = Pin.load(v)
    assert (p.torch, p.style) == ((), "backport")
    v.write_text(
        BASE + "TORCH=torch==2.13.0  torchvision==0.28.0\nPATCH_STYLE=upstream\n"
    )
    p = Pin.load(v)
    assert (p.torch, p.style) == (("torch==2.13.0", "torchvision==0.28.0"), "upstream")
    v.write_text(BASE + "PATCH_STYLE=loose\n")
    with pytest.raises(SeriesError, match="PATCH_STYLE must be one of backport, up"):
        Pin.load(v)


def test_the_checkouts_pins() -> None:
    """VERSION pins the torch its release's build requirements pin; upstream/
    is a complete pin whose ports are checked in upstream's style."""
    main = Pin.load(ROOT / "VERSION")
    assert main.style == "backport"
    tree_reqs = (ROOT / "build" / "vllm" / "requirements" / "build.txt").read_text()
    torch_line = next(x for x in tree_reqs.splitlines() if x.startswith("torch=="))
    assert torch_line in main.torch
    up = Layout.for_pin(ROOT, ROOT / "build", "upstream")
    pin = Pin.load(up.version_file)
    assert pin.style == "upstream" and pin.tag == f"v{pin.version}"
    assert any(t.startswith("torch==") for t in pin.torch)
    for path in (up.manifest, up.test_requirements, up.constraints, up.port_tests):
        assert path.is_file(), path
    assert up.patches.is_dir() and any(up.patches.glob("0001-*.patch"))


def pin_root(tmp_path: Path) -> tuple[Layout, Layout, Pin]:
    """A checkout whose main series and pin `up` pin the same synthetic
    release, with one patch each."""
    sdist = tmp_path / "up-index" / "pkg-0.0.1.tar.gz"
    p = make_pin(sdist, make_sdist(sdist, SOURCE))
    main = make_layout(tmp_path)
    write_version_file(tmp_path, p)
    (tmp_path / "up").mkdir()
    write_version_file(tmp_path / "up", p)
    up = Layout.for_pin(tmp_path, tmp_path / "build", "up")
    for layout, text in ((main, "main\n"), (up, "up\n")):
        series.apply(layout, p)
        commit(layout.tree, "pkg/other.py", text, f"[M] {text.strip()}")
        series.sync.export(layout.tree, p.tag, layout.patches)
    shutil.rmtree(main.build / "vllm")
    shutil.rmtree(up.build)
    return main, up, p


def cli(root: Path, *args: str, pin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != runlock.HELD_ENV}
    env.update(SERIES_ROOT=str(root), SERIES_PIN=pin)
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "series.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_apply_and_export_of_a_pin_leave_the_main_series_alone(tmp_path: Path) -> None:
    main, up, p = pin_root(tmp_path)
    proc = cli(tmp_path, "apply", pin="up")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{up.tree}: v0.0.1 + 1 patch(es), applied 1 now"
    assert (up.tree / "pkg" / "other.py").read_text() == "up\n"
    assert not main.tree.exists()
    # the release was fetched once, into the shared downloads
    assert (tmp_path / "build" / "downloads" / p.sdist.name).is_file()
    assert not (up.build / "downloads").exists()
    proc = cli(tmp_path, "apply")
    assert proc.returncode == 0, proc.stderr
    assert (main.tree / "pkg" / "other.py").read_text() == "main\n"
    before = sorted(x.name for x in main.patches.iterdir())
    commit(up.tree, "pkg/mod.py", "changed\n", "[M] Second")
    assert cli(tmp_path, "export", pin="up").returncode == 0
    assert len(list(up.patches.glob("*.patch"))) == 2
    assert sorted(x.name for x in main.patches.iterdir()) == before
    assert "2 patch(es)" in cli(tmp_path, "status", pin="up").stdout


def test_an_unknown_pin_fails_in_one_line(tmp_path: Path) -> None:
    proc = cli(tmp_path, "apply", pin="nope")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: PIN=nope: {tmp_path / 'nope' / 'VERSION'} not found (a pin is a "
        "directory with its VERSION and patches/)"
    ]


def test_run_tests_under_a_pin_is_its_vllm_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    main, up, p = pin_root(tmp_path)
    series.apply(up, p)
    commit(up.tree, "tests/test_up.py", "def test_up():\n    pass\n", "[T] Up")
    series.sync.export(up.tree, p.tag, up.patches)
    up.manifest.write_text("# none\n")
    up.python.parent.mkdir(parents=True)
    up.python.symlink_to(sys.executable)
    monkeypatch.setenv("SERIES_ROOT", str(tmp_path))
    monkeypatch.setenv("SERIES_PIN", "up")
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)
    try:
        with pytest.raises(SeriesError, match="the tooling tests are the main series'"):
            run_tests.main(["tooling"])
        assert run_tests.main([]) == 0
        out = capfd.readouterr().out
        assert run_tests.main(["vllm"]) == 0  # the same, named
    finally:
        runlock.release(up.lock_file)
    assert "=== vLLM tests: " in out and f"(in {up.tree})" in out
    assert "project tests" not in out
    assert "total: 1 passed, 0 failed, 0 skipped" in out
    assert "total: 1 passed, 0 failed, 0 skipped" in capfd.readouterr().out


# --- the Makefile: PIN= reaches the scripts; the main series' own targets refuse


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in ("Makefile", "VERSION"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "upstream").mkdir()
    (tmp_path / "upstream" / "VERSION").write_text("VLLM_TAG=v9.9.9\n")
    fake = tmp_path / "fakepy"
    fake.write_text('#!/bin/sh\necho "ARGS $* PIN=${SERIES_PIN-unset}"\n')
    fake.chmod(0o755)
    return tmp_path


def make(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(checkout), f"PYTHON={checkout / 'fakepy'}", *args],
        capture_output=True,
        text=True,
    )


def test_make_passes_the_pin(checkout: Path) -> None:
    out = make(checkout, "apply", "PIN=upstream").stdout
    assert out == "ARGS scripts/series.py apply PIN=upstream\n"
    assert make(checkout, "apply").stdout == "ARGS scripts/series.py apply PIN=\n"
    out = make(checkout, "-o", "build", "test", "PIN=upstream").stdout
    # a pin's `make test` is its vLLM tests: no wheels of the main series
    assert out == "ARGS scripts/run_tests.py PIN=upstream\n"
    assert "help" in make(checkout, "help", "PIN=upstream").stdout
    assert "vLLM v9.9.9" in make(checkout, "help", "PIN=upstream").stdout
    # upstream-check builds the pin upstream/, then checks its ports
    assert make(checkout, "upstream-check").stdout.splitlines() == [
        "ARGS scripts/series.py ensure PIN=upstream",
        "ARGS scripts/build.py PIN=upstream",
        "ARGS scripts/portcheck.py PIN=upstream",
    ]


@pytest.mark.parametrize("target", ["wheel", "test-tooling", "models", "matrix"])
def test_main_series_targets_refuse_a_pin(checkout: Path, target: str) -> None:
    proc = make(checkout, target, "PIN=upstream")
    assert proc.returncode != 0
    assert (
        f"make {target}: a target of the main series; run it without PIN=upstream"
        in proc.stderr
    )
    assert "ARGS" not in proc.stdout  # nothing ran
