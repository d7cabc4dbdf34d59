# SPDX-License-Identifier: Apache-2.0
"""The git trees of the release matrix, under build/matrix/: one per release,
made from its sdist as `make apply` makes build/vllm (tree.init_tree), kept
while it records the same sdist, its files checked out only while patches are
applied; the pin's tree also holds the series applied (SERIES_REF), whose
objects the other trees borrow for `git am -3`.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import fetch
import sync
import tree
from gitrun import git, git_run
from patchfile import digests

# Records in a tree's git dir: the sdist it was made from, and (pin's tree)
# the series that SERIES_REF holds.
SDIST_RECORD = "vllm-mm-patches-matrix-sdist"
SERIES_RECORD = "vllm-mm-patches-matrix-series"
SERIES_REF = "refs/matrix/series"

Log = Callable[[str], None]


def tag_of(version: str) -> str:
    return f"v{version}"


def release_tree(
    archive: Path, sha256: str, version: str, work: Path, log: Log = print
) -> Path:
    """build/matrix/vllm-X: the pristine tree of the sdist, as `make apply`
    makes it; reused while it records the same sdist."""
    path = work / archive.name.removesuffix(".tar.gz")
    if path.is_dir():
        record = tree.git_dir(path) / SDIST_RECORD
        if record.is_file() and record.read_text().strip() == sha256:
            return path
        shutil.rmtree(path)
    log(f"{path.name}: making its git tree from {archive.name}")
    src = fetch.unpack_sdist(archive, work / "src" / path.name)
    try:
        tree.init_tree(src, path, tag_of(version))
    finally:
        shutil.rmtree(src, ignore_errors=True)
    (tree.git_dir(path) / SDIST_RECORD).write_text(sha256 + "\n")
    return path


def reset(path: Path, version: str) -> None:
    """Detach `path` at its pristine tag, whatever an interrupted run left."""
    gd = tree.git_dir(path)
    (gd / "index.lock").unlink(missing_ok=True)  # stale: the lock is held
    if (gd / "rebase-apply").exists():
        git_run(path, "am", "--abort", check=False)
        shutil.rmtree(gd / "rebase-apply", ignore_errors=True)
    git(path, "checkout", "-q", "-f", "--detach", tag_of(version))
    git(path, "clean", "-q", "-ffdx")


def stow(path: Path) -> None:
    """Leave only the git dir of `path` (the next reset checks the files out
    again): a tree at rest takes half the disk."""
    git(path, "read-tree", "--empty")
    for entry in path.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def series_digest(patches: list[Path]) -> str:
    """One sha256 for the series: its patch names and bytes, in order."""
    h = hashlib.sha256()
    for name, digest in digests(patches):
        h.update(f"{name} {digest}\n".encode())
    return h.hexdigest()


def base_objects(
    pin_tree: Path, version: str, patches: list[Path], log: Log = print
) -> Path:
    """The object store of `pin_tree` with the series applied (SERIES_REF):
    every blob `git am -3` may need. Rebuilt when the series changed."""
    gd = tree.git_dir(pin_tree)
    record = gd / SERIES_RECORD
    digest = series_digest(patches)
    if not (record.is_file() and record.read_text().strip() == digest):
        log(f"{pin_tree.name}: applying the series (the blobs of git am -3)")
        reset(pin_tree, version)
        previous = tag_of(version)
        for patch in patches:
            sync.am(pin_tree, patch, previous)
            previous = patch.name
        git(pin_tree, "update-ref", SERIES_REF, "HEAD")
        record.write_text(digest + "\n")
    return gd / "objects"


def borrow_objects(path: Path, objects: Path) -> None:
    """Let `path` read the objects of `objects` (git alternates)."""
    info = tree.git_dir(path) / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    if objects.resolve() != (info.parent).resolve():
        (info / "alternates").write_text(f"{objects.resolve()}\n")
