# SPDX-License-Identifier: Apache-2.0
"""The vLLM tests `make test` runs: the series' test files + the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from errors import SeriesError
from patchfile import patch_files, touched_files


@dataclass(frozen=True)
class Entry:
    path: str  # a file, or file::test
    status: str  # run | exclude
    reason: str


def entries(path: Path) -> list[Entry]:
    """The `PATH run|exclude [REASON]` lines of the manifest."""
    if not path.is_file():
        raise SeriesError(f"{path} not found")
    found: list[Entry] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[1] not in ("run", "exclude"):
            raise SeriesError(f"{path}:{n}: expected 'PATH run|exclude [REASON]'")
        reason = parts[2] if len(parts) > 2 else ""
        if parts[1] == "exclude" and not reason:
            raise SeriesError(f"{path}:{n}: an excluded test needs a reason")
        found.append(Entry(parts[0], parts[1], reason))
    return found


def pytest_args(tree: Path, patches_dir: Path, manifest: Path) -> list[str]:
    """Files + `--deselect=` args for pytest in `tree`; never no file.

    The test files the series adds or changes (read from the patches) and the
    manifest's `run` lines, minus its `exclude` lines.
    """
    listed = entries(manifest)
    for e in listed:
        if not (tree / e.path.split("::")[0]).is_file():
            raise SeriesError(f"{manifest}: {e.path} does not exist in {tree}")
    excluded = {e.path for e in listed if e.status == "exclude"}
    files = [
        f
        for f in touched_files(patch_files(patches_dir))
        if f.startswith("tests/")
        and Path(f).name.startswith("test_")
        and f.endswith(".py")
        and f not in excluded
        # a file the series adds, then deletes
        and (tree / f).is_file()
    ]
    files += [e.path for e in listed if e.status == "run"]
    files = list(dict.fromkeys(files))
    if not files:
        raise SeriesError(
            f"no vLLM test file to run (the patches add none and {manifest.name} "
            f"lists none)"
        )
    deselect = [
        f"--deselect={e.path}"
        for e in listed
        if e.status == "exclude" and "::" in e.path
    ]
    return files + deselect
