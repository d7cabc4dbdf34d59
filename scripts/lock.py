#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Rewrite the hash lock scripts/constraints.txt from what build/venv has.

Every distribution installed in build/venv (but pip and the editable vLLM) is
pinned to its version, with the sha256 of each of its files on the configured
package index that a supported host may install (sdist, and wheels for
CPython 3.10-3.13 on x86_64 Linux). The index's `#sha256=` gives most of
them; a file it lists without one is hashed here (downloaded if remote).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import subprocess  # noqa: E402
import tempfile  # noqa: E402

import index  # noqa: E402
import lockfile  # noqa: E402
import progress  # noqa: E402
import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from pin import Layout  # noqa: E402

HEADER = """\
# Hash lock: exact versions and sha256 of everything 'make build' installs into
# build/venv (pip install --require-hashes). Regenerate with 'make lock' after
# changing scripts/requirements-test.txt or the pin in VERSION.
"""
PYTHONS = range(10, 14)  # CPython 3.10 .. 3.13, as scripts/pycheck.py
NOT_LOCKED = ("pip",)  # the venv's own, from `python -m venv`


def pinned(freeze_output: str) -> list[tuple[str, str]]:
    """(name, version) of `pip freeze --all` lines, sorted; SeriesError for
    ones not installed from an index."""
    lines = [
        line
        for line in freeze_output.splitlines()
        if line and not line.startswith(("-e ", "vllm==", "vllm @", "#"))
    ]
    unpinned = [line for line in lines if "==" not in line]
    if unpinned:
        raise SeriesError(
            f"not installed from an index, cannot be pinned: {unpinned}; "
            "reinstall them with `pip install NAME==VERSION`"
        )
    pins = [tuple(line.split("==", 1)) for line in lines]
    return sorted(
        ((n, v) for n, v in pins if n.lower() not in NOT_LOCKED),
        key=lambda p: p[0].lower(),
    )


def installable(filename: str) -> bool:
    """Whether a supported host may install `filename` (see the docstring)."""
    if not filename.endswith(".whl"):
        return True
    from pip._vendor.packaging.utils import parse_wheel_filename

    for tag in parse_wheel_filename(filename)[3]:
        arch_ok = tag.platform == "any" or (
            "linux" in tag.platform and tag.platform.endswith("x86_64")
        )
        interp = tag.interpreter
        if interp.startswith("py"):
            py_ok = interp in ("py3", "py2.py3") or interp[2:] in {
                f"3{m}" for m in PYTHONS
            }
        elif interp.startswith("cp3") and interp[3:].isdigit():
            minor = int(interp[3:])
            py_ok = minor in PYTHONS or (tag.abi == "abi3" and minor <= max(PYTHONS))
        else:
            py_ok = False
        if arch_ok and py_ok:
            return True
    return False


def file_sha256(f: index.IndexFile) -> str:
    """The file's sha256: from the index, else hashed here."""
    if f.sha256:
        return f.sha256
    if f.url.startswith("file://"):
        return index.sha256_of(Path(f.url.removeprefix("file://")))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f.filename
        index.fetch_url(f.url, path, f.filename, None)
        return index.sha256_of(path)


def hashes_of(name: str, version: str) -> list[str]:
    files = [f for f in index.find_files(name, version) if installable(f.filename)]
    if not files:
        raise SeriesError(
            f"{name}=={version}: the package index has no file of it for "
            "CPython 3.10-3.13 on x86_64 Linux"
        )
    return sorted({file_sha256(f) for f in files})


def lock(pins: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    out = {}
    with progress.Bar("index", len(pins)) as bar:
        for name, version in pins:
            out[(name, version)] = hashes_of(name, version)
            bar.advance(1)
    return out


def main() -> int:
    layout = Layout.default()
    if not layout.python.exists():
        raise SeriesError(f"{layout.venv} missing: run `make build`")
    runlock.acquire(layout.lock_file, "lock.py")
    proc = subprocess.run(
        [str(layout.python), "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SeriesError(f"pip freeze failed: {proc.stderr.strip()[-200:]}")
    pins = pinned(proc.stdout)
    with progress.step(f"sha256 of {len(pins)} pins from the package index"):
        locked = lock(pins)
    layout.constraints.write_text(lockfile.render(HEADER, locked))
    n = sum(len(h) for h in locked.values())
    print(f"{layout.constraints}: {len(pins)} pins, {n} sha256")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
