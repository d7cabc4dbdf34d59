# SPDX-License-Identifier: Apache-2.0
"""Reading the series' patch files (no git needed)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from pathlib import Path


def patch_files(patches: Path) -> list[Path]:
    """The series in order: patches/*.patch sorted by name."""
    if not patches.is_dir():
        return []
    return sorted(patches.glob("*.patch"))


def digests(patches: list[Path]) -> list[tuple[str, str]]:
    """(name, sha256 of the bytes) of each patch, in order."""
    return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in patches]


def subject_of(patch: Path) -> str:
    msg = email.message_from_bytes(patch.read_bytes(), policy=email.policy.default)
    return re.sub(r"^\[PATCH[^\]]*\]\s*", "", str(msg.get("Subject", ""))).strip()


def touched_files(patches: list[Path]) -> list[str]:
    """Paths the series adds or modifies (b/ side of every diff), in order."""
    seen: dict[str, None] = {}
    for patch in patches:
        for line in patch.read_text(errors="replace").splitlines():
            m = re.match(r"^\+\+\+ b/(.+)$", line)
            if m:
                seen.setdefault(m.group(1), None)
    return list(seen)
