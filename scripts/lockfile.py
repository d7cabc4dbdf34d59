# SPDX-License-Identifier: Apache-2.0
"""The hash lock's format: pip requirements, one exact pin per distribution
with the sha256 of each of its files that may be installed.

    numpy==2.2.6 \\
        --hash=sha256:<64 hex> \\
        --hash=sha256:<64 hex>

`pip install --require-hashes -r <lock>` installs exactly this set and
refuses any file whose sha256 is not listed (a changed file on a mirror).
"""

from __future__ import annotations

import re
from pathlib import Path

from errors import SeriesError

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})$")


def render(header: str, pins: dict[tuple[str, str], list[str]]) -> str:
    """The lock text: `header`, then each pin (sorted by name) with its hashes."""
    out = [header.rstrip("\n")]
    for (name, version), hashes in sorted(pins.items(), key=lambda p: p[0][0].lower()):
        if not hashes:
            raise SeriesError(f"{name}=={version}: no sha256 to lock")
        lines = [f"{name}=={version}"] + [
            f"    --hash=sha256:{h}" for h in sorted(set(hashes))
        ]
        out.append(" \\\n".join(lines))
    return "\n".join(out) + "\n"


def parse(path: Path) -> dict[tuple[str, str], list[str]]:
    """The pins of a lock file and their hashes (SeriesError on anything else)."""
    if not path.is_file():
        raise SeriesError(f"{path} not found: run `make lock`")
    text = path.read_text().replace("\\\n", " ")
    pins: dict[tuple[str, str], list[str]] = {}
    for raw in text.splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        m = PIN.match(words[0])
        hashes = [HASH.match(w) for w in words[1:]]
        if not m or not all(hashes):
            raise SeriesError(f"{path}: not `name==version --hash=sha256:...`: {raw!r}")
        pins[(m.group(1), m.group(2))] = [h.group(1) for h in hashes if h]
    return pins


def versions_only(pins: dict[tuple[str, str], list[str]]) -> str:
    """The pins as plain pip constraints (no hashes)."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins))
