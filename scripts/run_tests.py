#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make test`: the project's tests, then the vLLM tests of the series.

1. `pytest tests/` at the top level (tooling, benchmarks' self-tests, e2e);
2. inside build/vllm, the vLLM test files the series adds or changes (read
   from the patches) plus the `run` lines of tests/vllm-tests.txt.

Both runs use build/venv. It ends with one summary line over both runs and
exits non-zero if anything failed or errored.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from series import Layout, SeriesError, deselected, test_files  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped


def junit_counts(path: Path) -> Counts:
    """Counts from a pytest junit XML report (errors count as failures)."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    c = Counts()
    for s in suites:
        tests = int(s.get("tests", 0))
        failed = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        c.failed += failed
        c.skipped += skipped
        c.passed += tests - failed - skipped
    return c


def run_pytest(python: Path, args: list[str], cwd: Path, label: str) -> Counts:
    with tempfile.TemporaryDirectory() as d:
        xml = Path(d) / "report.xml"
        cmd = [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            f"--junitxml={xml}",
            *args,
        ]
        print(f"\n=== {label}: {' '.join(cmd)}  (in {cwd})", flush=True)
        rc = subprocess.run(cmd, cwd=cwd).returncode
        if not xml.exists():
            # pytest died before writing a report (collection crash, ...).
            return Counts(failed=1)
        counts = junit_counts(xml)
        if rc not in (0, 5) and counts.failed == 0:
            counts.failed = 1  # internal error or interrupted
        return counts


def main() -> int:
    layout = Layout.default()
    python = layout.build / "venv" / "bin" / "python"
    if not python.exists():
        print("error: build/venv missing: run `make build`", file=sys.stderr)
        return 1
    manifest = ROOT / "tests" / "vllm-tests.txt"
    try:
        vllm_tests = test_files(layout, manifest)
        vllm_tests += [f"--deselect={t}" for t in deselected(manifest)]
    except SeriesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    total = Counts()
    total.add(run_pytest(python, ["tests"], ROOT, "project tests"))
    if any(not t.startswith("--") for t in vllm_tests):
        total.add(run_pytest(python, vllm_tests, layout.tree, "vLLM tests"))
    else:
        print("\n=== vLLM tests: none (the series adds no test file)")
    print(
        f"\ntotal: {total.passed} passed, {total.failed} failed, "
        f"{total.skipped} skipped"
    )
    if total.passed == 0:
        print("error: no test ran", file=sys.stderr)
        return 1
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
