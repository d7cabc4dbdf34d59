#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make port-check PIN=NAME` (`make upstream-check`): does each patch fix
what its tests test?

    portcheck.py [--jobs N] [PATCH...]

For each patch of the pin, in series order, in a scratch worktree of
build/NAME/vllm (the release at its tag, with the tree's compiled modules):

- before: the release + the earlier patches + only this patch's test files:
  its tests must fail (the earlier patches fix other defects; they are there
  so that the test files apply);
- after: the same + the rest of the patch: its tests must pass, none skipped.

The tests of each patch are NAME/TESTS (`PATCH: pytest arguments`). Prints a
Markdown table (port, before, after) and fails unless every patch failed
before and passed after. With PATCH names, only those are checked (the
earlier patches are still applied). Runs in build/NAME/venv.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from gitrun import git  # noqa: E402
from patchfile import patch_files  # noqa: E402
from pin import Layout, Pin  # noqa: E402
from run_tests import Counts, verdict  # noqa: E402

# A test run that takes longer has hung.
TIMEOUT_S = 1200


def read_tests(path: Path) -> dict[str, list[str]]:
    """The `PATCH: pytest arguments` lines of a TESTS file."""
    if not path.is_file():
        raise SeriesError(f"{path} not found (the tests of each patch)")
    tests: dict[str, list[str]] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, args = line.partition(": ")
        if not sep or not name.endswith(".patch") or not args.strip():
            raise SeriesError(f"{path}:{n}: expected 'PATCH: pytest arguments'")
        if name in tests:
            raise SeriesError(f"{path}:{n}: {name} listed twice")
        tests[name] = shlex.split(args)
    return tests


def cell(c: Counts) -> str:
    """One table cell: pytest's counts, then what went wrong."""
    counts = ", ".join(
        f"{n} {k}"
        for k, n in (("failed", c.failed), ("passed", c.passed), ("skipped", c.skipped))
        if n
    )
    return "; ".join(filter(None, [counts, *c.problems])) or "no test ran"


def failed_before(c: Counts) -> bool:
    """Without the fix, the tests ran and some failed."""
    return c.failed > 0


def passed_after(c: Counts) -> bool:
    """With the fix, every test ran and passed."""
    return not c.problems and c.failed == 0 and c.skipped == 0 and c.passed > 0


@dataclass(frozen=True)
class Row:
    patch: str
    before: Counts
    after: Counts

    @property
    def ok(self) -> bool:
        return failed_before(self.before) and passed_after(self.after)

    def markdown(self) -> str:
        return f"| {self.patch} | {cell(self.before)} | {cell(self.after)} |"


def run_pytest(python: Path, args: list[str], work: Path) -> Counts:
    """pytest `args` in `work`, `work` first on the path; its counts."""
    env = dict(os.environ, PYTHONPATH=str(work))
    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "report.xml"
        cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        cmd += [f"--junitxml={report}", *args]
        try:
            rc = subprocess.run(
                cmd, cwd=work, env=env, capture_output=True, timeout=TIMEOUT_S
            ).returncode
        except subprocess.TimeoutExpired:
            return Counts(problems=[f"timed out after {TIMEOUT_S} s"])
        return verdict("pytest", rc, report)


def untracked_modules(tree: Path) -> list[Path]:
    """What the tree has but git does not: the compiled modules and the
    version file the build put into vllm/."""
    found = sorted((tree / "vllm").glob("*.so"))
    version = tree / "vllm" / "_version.py"
    return found + [version] if version.is_file() else found


@contextmanager
def worktree(tree: Path, tag: str, scratch: Path, name: str) -> Iterator[Path]:
    """A detached worktree of `tree` at `tag`, with links to its modules."""
    work = scratch / name
    git(tree, "worktree", "add", "-q", "--detach", str(work), tag)
    try:
        for module in untracked_modules(tree):
            link = work / module.relative_to(tree)
            if not link.exists():
                link.symlink_to(module)
        yield work
    finally:
        git(tree, "worktree", "remove", "--force", str(work), check=False)
        git(tree, "worktree", "prune", check=False)


def reset(work: Path, tag: str) -> None:
    git(work, "checkout", "-q", "--force", tag)
    git(work, "clean", "-q", "-fd", "-e", "*.so", "-e", "_version.py")


def check_one(
    work: Path, tag: str, earlier: list[Path], patch: Path, args: list[str], py: Path
) -> Row:
    reset(work, tag)
    for p in earlier:
        git(work, "apply", str(p.resolve()))
    git(work, "apply", "--include=tests/*", str(patch.resolve()))
    before = run_pytest(py, args, work)
    git(work, "apply", "--exclude=tests/*", str(patch.resolve()))
    after = run_pytest(py, args, work)
    reset(work, tag)
    return Row(patch.name, before, after)


def check(
    layout: Layout, pin: Pin, only: list[str], jobs: int, python: Path | None = None
) -> list[Row]:
    """The rows of every patch (or of those named in `only`), in order."""
    tree = layout.tree
    if not (tree / ".git").exists():
        raise SeriesError(f"{tree} does not exist: run `make apply` first")
    patches = patch_files(layout.patches)
    if not patches:
        raise SeriesError(f"no patch in {layout.patches}")
    names = [p.name for p in patches]
    if unknown := [n for n in only if n not in names]:
        raise SeriesError(f"not a patch of {layout.patches}: {', '.join(unknown)}")
    tests = read_tests(layout.port_tests)
    chosen = [i for i, n in enumerate(names) if not only or n in only]
    if missing := [names[i] for i in chosen if names[i] not in tests]:
        raise SeriesError(f"{layout.port_tests} lists no tests of {', '.join(missing)}")
    py = python or layout.python
    with tempfile.TemporaryDirectory(prefix="port-check.") as d:
        scratch = Path(d)
        free: queue.Queue[Path] = queue.Queue()
        with ExitStack() as stack:
            works = [
                stack.enter_context(worktree(tree, pin.tag, scratch, f"w{i}"))
                for i in range(min(jobs, len(chosen)))
            ]
            for w in works:
                free.put(w)

            def task(i: int) -> Row:
                work = free.get()
                try:
                    patch = patches[i]
                    return check_one(
                        work, pin.tag, patches[:i], patch, tests[patch.name], py
                    )
                finally:
                    free.put(work)

            with ThreadPoolExecutor(len(works)) as pool:
                return list(pool.map(task, chosen))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("patches", nargs="*", help="only these (file names)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    layout = Layout.default()
    pin = Pin.load(layout.version_file)
    if not layout.python.exists():
        raise SeriesError(f"{layout.venv} missing: run `make build`")
    runlock.acquire(layout.lock_file, "portcheck.py")
    rows = check(layout, pin, args.patches, max(1, args.jobs))
    print("| port | before (without the fix) | after (with the fix) |")
    print("|---|---|---|")
    for row in rows:
        print(row.markdown())
    bad = [r.patch for r in rows if not r.ok]
    if bad:
        raise SeriesError(
            f"{len(bad)} of {len(rows)} patch(es) did not fail before and pass "
            f"after: {', '.join(bad)}"
        )
    print(f"{len(rows)} patch(es): each one's tests fail on {pin.tag}, pass with it")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
