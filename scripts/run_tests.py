#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make test`: the project's tests, then the vLLM tests of the series.

    run_tests.py [all|project|tooling|e2e|wheel|vllm] [--pytest-args "..."]

(`--pytest-args` defaults to $PYTEST_ARGS, except for `all`.)

- project: `pytest tests/` at the top level (tooling, benchmarks' self-tests,
  e2e, the contents of the wheels in build/dist/) but the fresh-venv install;
  `tooling` and `e2e` are its halves; `wheel` the wheels' tests, the
  fresh-venv install of the CPU wheel included;
- vllm: inside build/vllm, the vLLM test files the series adds or changes
  (read from the patches) plus the `run` lines of tests/vllm-tests.txt. If
  that list cannot be computed, this fails: it never runs pytest without
  file arguments inside build/vllm (that would collect all of vLLM's tests).

Every run uses build/venv. Under another pin (PIN=NAME) the project's tests
belong to the main series: `all` is that pin's vLLM tests, in build/NAME/.
A run passes only if pytest exited 0, wrote its
report, and at least one test passed: an interrupted run, a crash before the
report and a run where no test ran all fail. One summary line at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import manifest  # noqa: E402
import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from pin import Layout  # noqa: E402

PARTS = {
    "project": ["tests", "-m", "not fresh_venv"],
    "tooling": ["tests", "-m", "not e2e and not wheel"],
    "e2e": ["tests", "-m", "e2e"],
    "wheel": ["tests", "-m", "wheel"],
}


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.problems += other.problems


def junit_counts(path: Path) -> Counts:
    """Counts from a pytest junit XML report (errors count as failures): the
    <testsuite> elements, the root one (older pytest) or those under
    <testsuites> (whose own totals, where a writer gives them, are ignored)."""
    root = ET.parse(path).getroot()
    c = Counts()
    for s in root.iter("testsuite"):  # the root itself included
        tests = int(s.get("tests", 0))
        failed = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        c.failed += failed
        c.skipped += skipped
        c.passed += tests - failed - skipped
    return c


def verdict(label: str, rc: int, report: Path) -> Counts:
    """The counts of one pytest run, with a problem for anything not a pass."""
    if not report.is_file():
        return Counts(problems=[f"{label}: pytest exited {rc} without a report"])
    try:
        c = junit_counts(report)
    except (ET.ParseError, ValueError) as e:
        return Counts(problems=[f"{label}: unreadable pytest report ({e})"])
    if rc == 5 or c.passed + c.failed == 0:
        c.problems.append(f"{label}: no test ran")
    elif rc == 2:
        c.problems.append(f"{label}: interrupted (pytest exit code 2)")
    elif rc not in (0, 1) or (rc == 1) != (c.failed > 0):
        c.problems.append(f"{label}: pytest exited {rc}")
    return c


def run_pytest(python: Path, args: list[str], cwd: Path, label: str) -> Counts:
    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "report.xml"
        cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"]
        cmd += [f"--junitxml={report}", *args]
        print(f"\n=== {label}: {' '.join(cmd)}  (in {cwd})", flush=True)
        rc = subprocess.run(cmd, cwd=cwd).returncode
        return verdict(label, rc, report)


def summary(total: Counts) -> tuple[str, int]:
    line = (
        f"total: {total.passed} passed, {total.failed} failed, {total.skipped} skipped"
    )
    ok = total.failed == 0 and not total.problems and total.passed > 0
    return line, 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "part", nargs="?", default="all", choices=["all", *PARTS, "vllm"]
    )
    parser.add_argument(
        "--pytest-args",
        help="extra pytest arguments of one part (default: $PYTEST_ARGS)",
    )
    args = parser.parse_args(argv)
    if args.pytest_args is None and args.part != "all":
        args.pytest_args = os.environ.get("PYTEST_ARGS")
    try:
        extra = shlex.split(args.pytest_args or "")
    except ValueError as e:
        raise SeriesError(f"PYTEST_ARGS: {e}") from None
    layout = Layout.default()
    if layout.series is not None:
        if args.part not in ("all", "vllm"):
            raise SeriesError(
                f"the {args.part} tests are the main series' (run them without PIN)"
            )
        args.part = "vllm"
    if not layout.python.exists():
        raise SeriesError(f"{layout.venv} missing: run `make build`")
    runlock.acquire(layout.lock_file, f"run_tests.py {args.part}")
    vllm_args: list[str] = []
    if args.part in ("all", "vllm"):
        if not (layout.tree / ".git").exists():
            raise SeriesError(f"{layout.tree} does not exist: run `make apply`")
        vllm_args = manifest.pytest_args(layout.tree, layout.patches, layout.manifest)
    total = Counts()
    if args.part != "vllm":
        part = "project" if args.part == "all" else args.part
        total.add(
            run_pytest(layout.python, PARTS[part] + extra, layout.root, f"{part} tests")
        )
    if vllm_args:
        total.add(
            run_pytest(layout.python, vllm_args + extra, layout.tree, "vLLM tests")
        )
    line, rc = summary(total)
    print(f"\n{line}")
    for problem in total.problems:
        print(f"error: {problem}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(run_main(main))
