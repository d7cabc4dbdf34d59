# SPDX-License-Identifier: Apache-2.0
"""The release matrix as files: matrix.json (the data) and matrix.md (made
from it): a table by release, one by patch, and the conflicting files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STATUSES = {
    "clean": "`git am` applies it",
    "3way": "only `git am -3` applies it",
    "present": "`git am -3` finds nothing to change: the release already has it",
    "conflict": "does not apply (`file`: the first conflicting file, `files`: "
    "all, in the patch's order); skipped, the next patches are applied without it",
}
SYMBOLS = {"clean": "✓", "3way": "3w", "present": "in", "conflict": "✗"}


def document(
    *,
    pin_tag: str,
    patches: Sequence[tuple[str, str]],
    series_sha256: str,
    releases: Sequence[Any],
    date: str,
) -> dict[str, Any]:
    """The JSON document: `releases` are matrix.Release rows."""
    names = [name for name, _ in patches]
    return {
        "generated": date,
        "command": "make matrix",
        "pin": pin_tag,
        "series_sha256": series_sha256,
        "statuses": STATUSES,
        "patches": [{"name": n, "subject": s} for n, s in patches],
        "releases": [
            {
                "version": r.version,
                "sdist": r.sdist,
                "sdist_sha256": r.sha256,
                "results": [
                    {
                        "patch": name,
                        "status": o.status,
                        "file": o.file,
                        "files": list(o.files),
                    }
                    for name, o in zip(names, r.outcomes, strict=True)
                ],
            }
            for r in releases
        ],
    }


def number(name: str) -> str:
    return name.split("-", 1)[0]


def ranges(indices: list[int], names: list[str]) -> str:
    """Series positions as ranges of patch numbers: `0001-0003, 0007`."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(
        number(names[r[0]])
        if len(r) == 1
        else f"{number(names[r[0]])}-{number(names[r[-1]])}"
        for r in runs
    )


def by_release(doc: dict[str, Any]) -> list[str]:
    names = [p["name"] for p in doc["patches"]]
    lines = [
        "| release | `git am` applies | needs `git am -3` | already in the release "
        "| conflicts (skipped) |",
        "|---|---|---|---|---|",
    ]
    for rel in doc["releases"]:
        cells = []
        for status in ("clean", "3way", "present", "conflict"):
            hits = [i for i, r in enumerate(rel["results"]) if r["status"] == status]
            cells.append(ranges(hits, names))
        lines.append(f"| {rel['version']} | " + " | ".join(cells) + " |")
    return lines


def by_patch(doc: dict[str, Any]) -> list[str]:
    versions = [r["version"] for r in doc["releases"]]
    lines = [
        "| patch | " + " | ".join(versions) + " |",
        "|---|" + "---|" * len(versions),
    ]
    for i, patch in enumerate(doc["patches"]):
        subject = patch["subject"].replace("|", "\\|")
        if len(subject) > 48:
            subject = subject[:47] + "…"
        cells = [SYMBOLS[r["results"][i]["status"]] for r in doc["releases"]]
        lines.append(
            f"| {number(patch['name'])} {subject} | " + " | ".join(cells) + " |"
        )
    return lines


def conflicts(doc: dict[str, Any]) -> list[str]:
    """Patch, consecutive releases, the file they first conflict in."""
    lines = ["| patch | releases | first conflicting file |", "|---|---|---|"]
    for i, patch in enumerate(doc["patches"]):
        runs: list[tuple[list[str], str | None]] = []
        previous = False
        for rel in doc["releases"]:
            r = rel["results"][i]
            if r["status"] != "conflict":
                previous = False
                continue
            if previous and runs[-1][1] == r["file"]:
                runs[-1][0].append(rel["version"])
            else:
                runs.append(([rel["version"]], r["file"]))
            previous = True
        for versions, file in runs:
            span = (
                versions[0] if len(versions) == 1 else f"{versions[0]}-{versions[-1]}"
            )
            shown = f"`{file}`" if file else "(git named no file)"
            lines.append(f"| {number(patch['name'])} | {span} | {shown} |")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    versions = [r["version"] for r in doc["releases"]]
    legend = "; ".join(
        f"{SYMBOLS[s]} {s}: {text}" for s, text in doc["statuses"].items()
    )
    return "\n".join(
        [
            "# Release matrix of the series",
            "",
            f"Made by `{doc['command']}` on {doc['generated']} (UTC) from `patches/` "
            f"({len(doc['patches'])} patches on {doc['pin']}, series sha256 "
            f"`{doc['series_sha256'][:16]}`) against every final vLLM release from "
            f"{versions[0]} to {versions[-1]} on the package index "
            f"({len(versions)} releases, sdists checksum-verified). "
            "Machine-readable: [matrix.json](matrix.json). Generated: do not edit.",
            "",
            "Each release's sdist is made a git tree the way `make apply` makes "
            "`build/vllm`, then the patches are applied one by one in series order. "
            "A conflicting patch is skipped and the next ones are applied on top of "
            "what did apply (as when you take only the patches that apply), so a "
            "patch building on a skipped one usually conflicts too.",
            "",
            "## By release",
            "",
            *by_release(doc),
            "",
            "## By patch",
            "",
            f"{legend}.",
            "",
            *by_patch(doc),
            "",
            "## First conflicting file",
            "",
            *conflicts(doc),
            "",
        ]
    )


def write(doc: dict[str, Any], out: Path) -> list[Path]:
    """Write out/matrix.json and out/matrix.md; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        out / "matrix.json": json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
        out / "matrix.md": markdown(doc),
    }
    for path, text in files.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return list(files)
