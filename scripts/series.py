#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fetch the pinned vLLM source, apply the patch series, export it, lint it.

    series.py fetch            download + verify + unpack the pinned sdist
                               (or clone VLLM_GIT_URL at the tag)
    series.py apply [--force]  build/vllm = pristine tag + patches/*.patch
    series.py ensure           before build/test: apply a stale build/vllm,
                               or refuse if it has local work and patches/
                               changed since its last sync
    series.py export           build/vllm commits after the tag -> patches/
    series.py status [--require-clean]
    series.py clean            remove build/ except downloads (refuses if
                               build/vllm has unexported work)
    series.py check            lint the series (messages, clean apply, ruff)
    series.py test-files       the vLLM test files `make test` runs

Every failure is one line on stderr and exit 1; one command at a time per
checkout (a lock in build/).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import fetch  # noqa: E402
import lint  # noqa: E402
import manifest  # noqa: E402
import progress  # noqa: E402
import runlock  # noqa: E402
import sync  # noqa: E402
import tree  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from pin import Layout, Pin  # noqa: E402

CLEANED = ("vllm", "venv", "src", "models", "pristine")


def apply(layout: Layout, pin: Pin, force: bool = False) -> str:
    """Fetch if needed, create build/vllm if needed, bring it to patches/."""
    src = fetch.fetch(layout, pin, os.environ.get("VLLM_GIT_URL"))
    path, notes = layout.tree, []
    if path.exists() and not (path / ".git").exists():
        if not force:
            raise SeriesError(
                f"{path} exists but is not a git repository; move it away, or "
                f"run `make apply FORCE=1` to set it aside"
            )
        aside = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        notes.append(f"old {path.name} moved to {aside}")
    if not path.exists():
        tree.init_tree(src, path, pin.tag)
    return "; ".join([sync.apply(path, pin.tag, layout.patches, force), *notes])


def require_tree(layout: Layout) -> Path:
    if not (layout.tree / ".git").exists():
        raise SeriesError(f"{layout.tree} does not exist: run `make apply` first")
    return layout.tree


def ensure(layout: Layout, pin: Pin) -> str:
    if not (layout.tree / ".git").exists():
        return apply(layout, pin)
    if sync.ensure(layout.tree, pin.tag, layout.patches) == "apply":
        return apply(layout, pin)
    return f"{layout.tree}: ready to build/test"


def status(layout: Layout, pin: Pin, require_clean: bool = False) -> str:
    if not (layout.tree / ".git").exists():
        return f"{layout.tree}: not created (run `make apply`)"
    line, problems = sync.status(layout.tree, pin.tag, layout.patches)
    if problems:
        line += "; " + "; ".join(problems)
        if require_clean:
            raise SeriesError(line)
    return line


def clean(layout: Layout, pin: Pin) -> str:
    if (layout.tree / ".git").exists():
        line, problems = sync.status(layout.tree, pin.tag, layout.patches)
        unsafe = [p for p in problems if not p.startswith("patches/ changed")]
        if unsafe:
            raise SeriesError(
                f"{line}; {'; '.join(unsafe)}: not removed (make export, or "
                f"delete {layout.tree} yourself)"
            )
    removed = [n for n in CLEANED if (layout.build / n).exists()]
    for name in removed:
        shutil.rmtree(layout.build / name)
    return f"removed {', '.join(removed) or 'nothing'} from {layout.build}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch")
    p_apply = sub.add_parser("apply")
    p_apply.add_argument(
        "--force",
        action="store_true",
        help="discard local work (kept under refs/backups/)",
    )
    sub.add_parser("ensure")
    sub.add_parser("export")
    p_status = sub.add_parser("status")
    p_status.add_argument("--require-clean", action="store_true")
    sub.add_parser("clean")
    p_check = sub.add_parser("check")
    p_check.add_argument("--ruff", default=None, help="default: build/venv/bin/ruff")
    sub.add_parser("test-files")
    args = parser.parse_args(argv)

    layout = Layout.default()
    pin = Pin.load(layout.version_file)
    if args.cmd != "test-files":
        runlock.acquire(layout.lock_file, f"series.py {args.cmd}")
    if args.cmd == "fetch":
        print(
            f"pristine source: {fetch.fetch(layout, pin, os.environ.get('VLLM_GIT_URL'))}"
        )
    elif args.cmd == "apply":
        print(apply(layout, pin, force=args.force))
    elif args.cmd == "ensure":  # the first step of `make build`: timed like its others
        with progress.step("build/vllm: the pristine tag + patches/ (make apply)"):
            print(ensure(layout, pin))
    elif args.cmd == "export":
        print(sync.export(require_tree(layout), pin.tag, layout.patches))
    elif args.cmd == "status":
        print(status(layout, pin, args.require_clean))
    elif args.cmd == "clean":
        print(clean(layout, pin))
    elif args.cmd == "check":
        ruff = args.ruff or str(layout.venv / "bin" / "ruff")
        print(
            lint.check(require_tree(layout), pin.tag, layout.patches, ruff, pin.style)
        )
    elif args.cmd == "test-files":
        print(
            "\n".join(
                manifest.pytest_args(
                    require_tree(layout), layout.patches, layout.manifest
                )
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
