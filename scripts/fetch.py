# SPDX-License-Identifier: Apache-2.0
"""Download, verify and unpack the pinned vLLM source (or clone the tag)."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from errors import SeriesError
from gitrun import git_run
from pin import Artifact, Layout, Pin

# Files of the sdist that are packaging artifacts, not part of the git tree.
SDIST_ONLY = ("PKG-INFO", "vllm.egg-info")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, sha256: str, size: int | None) -> None:
    """Raise SeriesError saying whether `path` is truncated or corrupt."""
    actual_size = path.stat().st_size
    if size is not None and actual_size < size:
        raise SeriesError(
            f"{path} is truncated ({actual_size} of {size} bytes); "
            f"delete it and run `make fetch` again"
        )
    digest = sha256_of(path)
    if digest != sha256:
        raise SeriesError(
            f"checksum mismatch for {path}: expected sha256 {sha256}, got "
            f"{digest}; delete it and run `make fetch` again"
        )


def download(art: Artifact, dest_dir: Path) -> Path:
    """Download `art` into `dest_dir` unless a verified copy is there.

    The file is written to a temporary name and only renamed into place once
    its size and checksum are right, so a failed download leaves nothing.
    """
    dest = dest_dir / art.name
    if dest.exists():
        verify_file(dest, art.sha256, art.size)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    url = art.url
    try:
        if url.startswith("/") or url.startswith("file://"):
            shutil.copyfile(url.removeprefix("file://"), tmp)
        else:
            with urllib.request.urlopen(url, timeout=60) as resp, tmp.open("wb") as f:
                shutil.copyfileobj(resp, f, 1 << 20)
        verify_file(tmp, art.sha256, art.size)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise SeriesError(
            f"cannot download {url}: {reason} (no network, or the URL in VERSION "
            f"is wrong)"
        ) from None
    except SeriesError as e:
        tmp.unlink(missing_ok=True)
        raise SeriesError(f"download of {url} is corrupt: {e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.rename(dest)
    return dest


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
    for member in members:
        why = unsafe_member(member)
        if why:
            raise tarfile.TarError(f"{member.name!r}: {why}")
        member.mode &= 0o755 if member.isdir() else 0o644 | (member.mode & 0o111)
        member.uid = member.gid = 0
        member.uname = member.gname = ""
    tar.extractall(dest, members=members)


def unpack_sdist(archive: Path, dest: Path) -> Path:
    """Unpack `archive` so that `dest` is its single top-level directory.

    Unpacks into a temporary sibling and renames at the end: an interrupted
    or failed unpack leaves no half-unpacked tree.
    """
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp-", dir=dest.parent))
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def clone_tag(git_url: str, tag: str, dest: Path) -> Path:
    """Shallow-clone `git_url` at `tag` into `dest`, without its .git."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp-", dir=dest.parent))
    try:
        work = tmp / "tree"
        git_run(
            None,
            *("clone", "-q", "--depth", "1", "--branch", tag, git_url, str(work)),
            what=f"clone {git_url} at {tag}",
        )
        shutil.rmtree(work / ".git")
        work.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
