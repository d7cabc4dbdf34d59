# SPDX-License-Identifier: Apache-2.0
"""Download (through the configured package index), verify and unpack the
pinned vLLM source, or clone the tag."""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import index
from errors import SeriesError
from gitrun import git_run
from pin import Artifact, Layout, Pin

# Files of the sdist that are packaging artifacts, not part of the git tree.
SDIST_ONLY = ("PKG-INFO", "vllm.egg-info")


def download(art: Artifact, dest_dir: Path) -> Path:
    """`art` in `dest_dir`, downloaded through the configured package index
    unless a verified copy is there (a corrupt or truncated one is refused).

    Where the index lists the file more than once (index, extra index,
    find-links), a copy whose advertised sha256 is the pinned one comes first,
    and the next is tried when one is refused (the first refusal is raised).
    """
    dest = dest_dir / art.name
    if dest.exists():
        index.verify_file(dest, art.sha256, art.size)
        return dest
    project, version = index.project_of(art.name), index.version_of(art.name)
    files = [f for f in index.find_files(project, version) if f.filename == art.name]
    if not files:
        raise SeriesError(
            f"cannot find {art.name} on the package index (project {project}): "
            "is the index reachable? check PIP_INDEX_URL / pip.conf, or pass "
            "make INDEX_URL=..."
        )
    # the pinned checksum first, then unknown ones, then other ones
    files.sort(key=lambda f: (f.sha256 != art.sha256, f.sha256 is not None))
    errors: list[SeriesError] = []
    for f in files:
        try:
            return index.download(f, dest_dir, art.sha256, art.size)
        except SeriesError as e:
            errors.append(e)
    raise errors[0]


def escapes(path: str) -> bool:
    """Whether archive path `path` is absolute or leaves the archive."""
    norm = posixpath.normpath(path)
    return path.startswith("/") or norm == ".." or norm.startswith("../")


def unsafe_member(member: tarfile.TarInfo) -> str | None:
    """Why `member` must not be extracted (None if it is fine).

    The checks of tarfile's "data" filter, for a Python without it (Debian
    12's 3.11.2): no absolute or escaping path, no link leaving the archive,
    no device or fifo.
    """
    if escapes(member.name):
        return "path outside the archive"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "not a regular file, directory or link"
    if member.issym() and escapes(
        str(PurePosixPath(member.name).parent / member.linkname)
    ):
        return "symlink outside the archive"
    if member.islnk() and escapes(member.linkname):
        return "hard link outside the archive"
    return None


def extract_all(tar: tarfile.TarFile, dest: Path) -> None:
    """`tar.extractall(dest)` with the "data" filter, or its checks."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    members = tar.getmembers()
    umask = os.umask(0)
    os.umask(umask)
    for member in members:
        why = unsafe_member(member)
        if why:
            raise tarfile.TarError(f"{member.name!r}: {why}")
        # the data filter's modes: a directory's is ignored (the default),
        # a file's loses high bits and go-w, its x bits unless the owner's,
        # and is always rw for the owner
        if member.isdir():
            member.mode = 0o777 & ~umask
        else:
            mode = member.mode & 0o755
            member.mode = (mode if mode & 0o100 else mode & ~0o111) | 0o600
        member.uid = member.gid = 0
        member.uname = member.gname = ""
    tar.extractall(dest, members=members)


@contextmanager
def staged(dest: Path) -> Iterator[Path]:
    """A temporary sibling of `dest` to build it in, removed at the end:
    moved into place only when complete, an interrupted or failed step
    leaves nothing half-made at `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp-", dir=dest.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack_sdist(archive: Path, dest: Path) -> Path:
    """Unpack `archive` so that `dest` is its single top-level directory."""
    if dest.is_dir():
        return dest
    with staged(dest) as tmp:
        try:
            with tarfile.open(archive) as tar:
                extract_all(tar, tmp)
            tops = list(tmp.iterdir())
            if len(tops) != 1 or not tops[0].is_dir():
                raise SeriesError(f"{archive}: expected one top-level directory")
            tops[0].rename(dest)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise SeriesError(
                f"cannot unpack {archive}: {e}; delete it and run `make fetch` again"
            ) from None
    return dest


def clone_tag(git_url: str, tag: str, dest: Path) -> Path:
    """Shallow-clone `git_url` at `tag` into `dest`, without its .git."""
    if dest.is_dir():
        return dest
    with staged(dest) as tmp:
        work = tmp / "tree"
        git_run(
            None,
            *("clone", "-q", "--depth", "1", "--branch", tag, git_url, str(work)),
            what=f"clone {git_url} at {tag}",
        )
        shutil.rmtree(work / ".git")
        work.rename(dest)
    return dest


def fetch(layout: Layout, pin: Pin, git_url: str | None = None) -> Path:
    """Return the directory holding the pristine source of the pin."""
    if git_url:
        return clone_tag(git_url, pin.tag, layout.src / f"vllm-{pin.version}-git")
    archive = download(pin.sdist, layout.downloads)
    return unpack_sdist(archive, layout.src / f"vllm-{pin.version}")


def source_dir(layout: Layout, pin: Pin) -> Path:
    git_dir = layout.src / f"vllm-{pin.version}-git"
    if os.environ.get("VLLM_GIT_URL") and git_dir.is_dir():
        return git_dir
    sdist_dir = layout.src / f"vllm-{pin.version}"
    if sdist_dir.is_dir():
        return sdist_dir
    raise SeriesError(f"no pristine source under {layout.src}: run `make fetch`")
