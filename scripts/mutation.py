#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make mutation`: how many deliberate small bugs the tooling tests catch.

Runs mutmut (scripts/requirements-mutation.txt, in build/mutvenv) over the
series, build and test-verdict modules, with the fast tooling tests, in a
scratch copy of the checkout (build/mutation/): mutmut wants the modules it
mutates at the top of a source directory, so the copy has scripts/ as src/
(and scripts -> src). Prints the share of mutants killed per module and in
all; fails below MIN_SCORE.

    mutation.py [--max-children N] [--modules a,b] [--report-only]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from collections import Counter  # noqa: E402

import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from gitrun import git  # noqa: E402
from pin import Layout  # noqa: E402

MODULES = (
    "pin",
    "fetch",
    "gitrun",
    "tree",
    "sync",
    "lint",
    "manifest",
    "patchfile",
    "runlock",
    "errors",
    "series",
    "build",
    "index",
    "lockfile",
    "run_tests",
    "portcheck",
)
TESTS = (
    "tests/test_series.py",
    "tests/test_tree_sync.py",
    "tests/test_run_tests.py",
    "tests/test_build.py",
    "tests/test_index.py",
    "tests/test_lock.py",
    "tests/test_lint.py",
    "tests/test_makefile.py",
    "tests/test_pin.py",
    "tests/test_portcheck.py",
)
MIN_SCORE = 0.85
# mutmut's exit codes of a mutant's test run that mean "caught".
CAUGHT = {1, 3, 36, -24, 24, 152, 255}
# A mutant's CPU-time limit is (its tests' measured time + 1 s) x this x 2.
# mutmut's default, 15, lets each mutant that loops forever (e.g. a chunked
# read that never ends) burn minutes; 3 still leaves 6x the measured time.
TIMEOUT_MULTIPLIER = 3


def config(modules: tuple[str, ...] = MODULES) -> str:
    def lines(items: list[str]) -> str:
        return "".join(f"\n    {i}" for i in items)

    return (
        "[mutmut]\n"
        "source_paths=src\n"
        f"timeout_multiplier={TIMEOUT_MULTIPLIER}\n"
        f"only_mutate={lines([f'src/{m}.py' for m in modules])}\n"
        f"also_copy={lines(['tests', 'Makefile', 'VERSION', 'README.md', '.ci', 'patches', 'pytest.ini'])}\n"
        f"pytest_add_cli_args_test_selection={lines(list(TESTS))}\n"
        "pytest_add_cli_args=\n    -p\n    no:cacheprovider\n"
        # reads the built tree (build/vllm), which the scratch copy has not
        "    --deselect\n    tests/test_pin.py::test_the_checkouts_pins\n"
    )


def prepare(layout: Layout, work: Path, modules: tuple[str, ...] = MODULES) -> None:
    """A scratch copy of the tracked files, scripts/ as src/."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    files = git(
        layout.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"
    )
    for name in filter(None, files.split("\0")):
        src = layout.root / name
        if src.is_file():
            dest = work / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    (work / "scripts").rename(work / "src")
    (work / "scripts").symlink_to("src")
    (work / "mutants").mkdir()
    (work / "mutants" / "scripts").symlink_to("src")
    (work / "setup.cfg").write_text(config(modules))
    # A mutant's stray git command (one without `-C`, run where mutmut runs)
    # must fail here, neither reach the checkout nor work on this copy (one
    # once ran `git am` and `git clean` in a repository here and deleted the
    # copy and mutmut's results): a .git file pointing nowhere is an error
    # for git, which then does not look further up.
    (work / ".git").write_text(f"gitdir: {work / 'no-repository-here'}\n")


def scores(mutants: Path) -> dict[str, Counter[str]]:
    """Per module: killed / survived / untested counts from mutmut's .meta files."""
    out: dict[str, Counter[str]] = {}
    for meta in sorted(mutants.glob("src/*.py.meta")):
        module = meta.name.removesuffix(".py.meta")
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        c: Counter[str] = Counter()
        for code in codes.values():
            if code is None:
                c["not run"] += 1
            else:
                c[
                    "killed" if code in CAUGHT else "survived" if code == 0 else "other"
                ] += 1
        out[module] = c
    return out


def report(per_module: dict[str, Counter[str]]) -> tuple[str, float]:
    """A table per module; the score is killed / mutants run."""
    cols = ("killed", "survived", "other", "not run")
    rows = [
        f"{'module':<10} {'mutants':>7} "
        + " ".join(f"{c:>8}" for c in cols)
        + "   score"
    ]
    total: Counter[str] = Counter()

    def row(name: str, c: Counter[str]) -> str:
        run = sum(c.values()) - c["not run"]
        score = f"{c['killed'] / run:>7.1%}" if run else "      -"
        counts = " ".join(f"{c[k]:>8}" for k in cols)
        return f"{name:<10} {sum(c.values()):>7} {counts} {score}"

    for module, c in per_module.items():
        total.update(c)
        rows.append(row(module, c))
    rows.append(row("all", total))
    run = sum(total.values()) - total["not run"]
    return "\n".join(rows), total["killed"] / run if run else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--modules", help=f"comma-separated subset of {','.join(MODULES)}"
    )
    args = parser.parse_args()
    modules = tuple(args.modules.split(",")) if args.modules else MODULES
    if unknown := set(modules) - set(MODULES):
        raise SeriesError(f"not a mutated module: {', '.join(sorted(unknown))}")
    layout = Layout.default()
    work = layout.build / ("mutation" if modules == MODULES else "mutation-part")
    mutmut = layout.build / "mutvenv" / "bin" / "mutmut"
    if not args.report_only:
        runlock.acquire(layout.lock_file, "mutation.py")
        venv = layout.build / "mutvenv"
        if not mutmut.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            reqs = layout.root / "scripts" / "requirements-mutation.txt"
            if subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "-r",
                    str(reqs),
                ]
            ).returncode:
                raise SeriesError("installing mutmut failed (see the output above)")
        prepare(layout, work, modules)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERIES_")}
        log = work / "mutmut.log"
        with log.open("wb") as out:
            rc = subprocess.run(
                [str(mutmut), "run", "--max-children", str(args.max_children)],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            ).returncode
        if rc != 0:
            tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()
            raise SeriesError(f"mutmut failed (exit {rc}; {log}): {tail[-1:]}")
    table, score = report(scores(work / "mutants"))
    print(table)
    if score < MIN_SCORE:
        raise SeriesError(f"mutation score {score:.1%} is below {MIN_SCORE:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
