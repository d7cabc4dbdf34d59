#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Rewrite the hash locks: scripts/constraints.txt (cpu) from what build/venv
has, scripts/constraints-cuda.txt by resolving the CUDA build's requirements.

cpu: every distribution installed in build/venv (but pip and the editable
vLLM). cuda (`--device cuda`, no GPU needed): what `pip install --dry-run
--report` resolves for the CUDA requirements under the cpu lock's versions.
Each is pinned to its version, with the sha256 of each of its files on the
configured package index that a supported host may install (sdist, and
wheels for CPython 3.10-3.13 on x86_64 Linux). The index's `#sha256=` gives
most of them; a file it lists without one is hashed here (downloaded if
remote).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import index  # noqa: E402
import lockfile  # noqa: E402
import progress  # noqa: E402
import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from pin import Layout, Pin  # noqa: E402

HEADER = """\
# Hash lock: exact versions and sha256 of everything 'make build DEVICE={device}{pin}'
# installs into {venv} (pip install --require-hashes). Regenerate with
# 'make lock DEVICE={device}{pin}' after changing {reqs} or the
# pin in {version}.
"""


def header(layout: Layout, device: str) -> str:
    """The lock's comment: which build it is for, how to redo it."""

    def rel(path: Path) -> str:
        return str(path.relative_to(layout.root))

    return HEADER.format(
        device=device,
        pin=f" PIN={rel(layout.series)}" if layout.series else "",
        venv=rel(layout.venv),
        reqs=rel(layout.test_requirements),
        version=rel(layout.version_file),
    )


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


def report_pins(report: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """(name, version) of what a `pip install --report` would install."""
    pins = {
        (item["metadata"]["name"], item["metadata"]["version"])
        for item in report.get("install", [])
    }
    return sorted(
        ((n, v) for n, v in pins if n.lower() not in NOT_LOCKED and n != "vllm"),
        key=lambda p: p[0].lower(),
    )


def freeze(layout: Layout) -> list[tuple[str, str]]:
    """The pins of what build/venv has installed."""
    proc = subprocess.run(
        [str(layout.python), "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SeriesError(f"pip freeze failed: {proc.stderr.strip()[-200:]}")
    return pinned(proc.stdout)


def resolve(layout: Layout, device: str) -> list[tuple[str, str]]:
    """The pins pip resolves for `device`'s requirements (nothing installed),
    under the versions of the cpu lock."""
    import build  # the requirement lines of a device live there

    pin = Pin.load(layout.version_file)
    assert pin.cpu_wheel is not None
    wheel = layout.downloads / pin.cpu_wheel.name
    with tempfile.TemporaryDirectory() as tmp:
        reqs, versions, report = (Path(tmp) / n for n in ("r.txt", "c.txt", "o.json"))
        reqs.write_text(
            "\n".join(build.requirement_lines(device, layout, pin, wheel)) + "\n"
        )
        versions.write_text(lockfile.versions_only(lockfile.parse(layout.constraints)))
        cmd = [str(layout.python), "-m", "pip", "install", "--dry-run", "-q"]
        cmd += ["--ignore-installed", "--report", str(report)]
        proc = subprocess.run([*cmd, "-c", str(versions), "-r", str(reqs)])
        if proc.returncode != 0:
            raise SeriesError(f"resolving the {device} requirements failed (see above)")
        return report_pins(json.loads(report.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args(argv)
    layout = Layout.default()
    if not layout.python.exists():
        raise SeriesError(f"{layout.venv} missing: run `make build`")
    runlock.acquire(layout.lock_file, "lock.py")
    out = layout.lock_for(args.device)
    if args.device == "cpu":
        pins = freeze(layout)
    else:
        with progress.step(f"resolve the {args.device} requirements (pip --dry-run)"):
            pins = resolve(layout, args.device)
    with progress.step(f"sha256 of {len(pins)} pins from the package index"):
        locked = lock(pins)
    out.write_text(lockfile.render(header(layout, args.device), locked))
    n = sum(len(h) for h in locked.values())
    print(f"{out}: {len(pins)} pins, {n} sha256")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
