#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The release matrix: which patches of the series apply to which vLLM release.

    matrix.py [--first 0.19.0] [--out docs]

For every final vLLM release from --first to the newest on the configured
package index (pip's configuration, read through index.py), in order:

1. its sdist, refused without the index's sha256 or on a mismatch, cached in
   build/downloads/;
2. a git tree of it made as `make apply` makes build/vllm (tree.init_tree:
   the pristine root commit, tagged vX.Y.Z), kept under build/matrix/;
3. patches/*.patch applied one by one in series order, each one:
     clean     `git am` applies it;
     3way      only `git am -3` applies it;
     present   `git am -3` finds nothing left to change: the release has it;
     conflict  neither applies; the first conflicting file (in the order of
               the patch's diff) is named (matrix.json: all of them).
   A conflicting patch is skipped (the tree stays as it was before it) and
   the next patches are applied on top of what did apply, as a maintainer
   taking only the patches that apply would do; a patch that builds on a
   skipped one then usually conflicts too.

`git am -3` needs the blobs a patch was made from. A fork cloned from
upstream's git has them; here every release tree borrows them (git
alternates) from the pin's tree with the whole series applied
(refs/matrix/series), which holds the preimage of every patch.

A release's outcomes are kept in its tree with the series they are for; a
repeated run with the same series reuses them (delete build/matrix/ to redo
everything).

Writes OUT/matrix.md and OUT/matrix.json (see matrix_report.py). Every
failure is one line on stderr and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Protocol  # noqa: E402

import matrix_report  # noqa: E402
from matrix_trees import (  # noqa: E402
    base_objects,
    borrow_objects,
    release_tree,
    reset,
    series_digest,
    stow,
)
import runlock  # noqa: E402
import sync  # noqa: E402
import tree  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from gitrun import git, git_run  # noqa: E402
from patchfile import patch_files, subject_of  # noqa: E402
from pin import Layout, Pin  # noqa: E402

PROJECT = "vllm"
FIRST = "0.19.0"
# A release's outcomes, kept with the series they are for: a repeated run with
# the same series reads them instead of applying it again.
RESULT_RECORD = "vllm-mm-patches-matrix-result.json"
# `git am` as `make apply` runs it (tree.AM_ARGS), without and with -3.
PLAIN_AM = tuple(a for a in tree.AM_ARGS if a != "--3way")
THREE_WAY_AM = (*PLAIN_AM, "--3way")

Log = Callable[[str], None]


class IndexFile(Protocol):
    """What index.find_files returns (index.IndexFile)."""

    @property
    def filename(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def sha256(self) -> str | None: ...


class Index(Protocol):
    """The part of index.py the matrix uses (the module itself fits)."""

    def versions(self, project: str) -> list[str]: ...
    def find_files(
        self, project: str, version: str | None = None
    ) -> Sequence[IndexFile]: ...
    def download(
        self, f: Any, dest_dir: Path, sha256: str, size: int | None
    ) -> Path: ...


@dataclass(frozen=True)
class Outcome:
    status: str  # clean, 3way, present, conflict
    files: tuple[str, ...] = ()  # the conflicting files, in the patch's order

    @property
    def file(self) -> str | None:
        """The first conflicting file."""
        return self.files[0] if self.files else None


@dataclass(frozen=True)
class Release:
    version: str
    sdist: str
    sha256: str
    outcomes: list[Outcome]


# ------------------------------------------------------------------ releases


def release_key(version: str) -> tuple[int, ...]:
    """Order of final release numbers (X.Y.Z, X.Y.Z.postN); ValueError else."""
    m = re.fullmatch(r"(\d+(?:\.\d+)*)(?:\.post(\d+))?", version)
    if not m:
        raise ValueError(version)
    return (*(int(x) for x in m.group(1).split(".")), -1, int(m.group(2) or -1))


def releases(versions: list[str], first: str = FIRST) -> list[str]:
    """The final releases from `first` on, oldest first."""
    start = release_key(first)
    finals = []
    for v in versions:
        try:
            key = release_key(v)
        except ValueError:
            continue  # a pre-release, dev or local version
        if key >= start:
            finals.append((key, v))
    return [v for _, v in sorted(finals)]


def sdist_of(files: Sequence[IndexFile], version: str) -> IndexFile:
    """The sdist among the index's files of `version`, with its sha256."""
    name = f"{PROJECT}-{version}.tar.gz"
    # (several sources may list it: the first that gives a checksum)
    found = sorted((f for f in files if f.filename == name), key=lambda f: not f.sha256)
    if not found:
        raise SeriesError(f"the package index has no sdist {name}")
    f = found[0]
    if not f.sha256:
        raise SeriesError(
            f"the package index gives no sha256 for {name}: refused (cannot verify it)"
        )
    return f


def fetch_sdist(idx: Index, f: IndexFile, downloads: Path) -> Path:
    """A copy of sdist `f` in `downloads` with the index's sha256: index.py
    verifies a cached copy, or downloads and verifies it, or refuses."""
    return idx.download(f, downloads, f.sha256, None)


# ----------------------------------------------------------------- applying


def diff_paths(patch: Path) -> list[str]:
    """The files of `patch`, in the order of its diffs."""
    paths: list[str] = []
    for line in patch.read_text(errors="replace").splitlines():
        m = re.match(r"^diff --git a/(.+) b/(.+)$", line)
        if m and m.group(2) not in paths:
            paths.append(m.group(2))
    return paths


def in_patch_order(files: list[str], patch: Path) -> tuple[str, ...]:
    """`files` in the order of `patch`'s diffs (others last, as given)."""
    order = {p: i for i, p in enumerate(diff_paths(patch))}
    return tuple(sorted(files, key=lambda f: order.get(f, len(order))))


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def classify(path: Path, patch: Path) -> Outcome:
    """Apply `patch` on HEAD and say how; after a conflict HEAD is unchanged."""
    before = head(path)
    if git_run(path, *PLAIN_AM, str(patch), check=False).returncode == 0:
        return Outcome("clean")
    git_run(path, "am", "--abort", check=False)
    if git_run(path, *THREE_WAY_AM, str(patch), check=False).returncode == 0:
        return Outcome("3way" if head(path) != before else "present")
    files = sync.conflicting_files(path, patch)
    git_run(path, "am", "--abort", check=False)
    git(path, "reset", "-q", "--hard", before)
    git(path, "clean", "-q", "-ffdx")
    return Outcome("conflict", in_patch_order(files, patch))


def kept_outcomes(path: Path, digest: str) -> list[Outcome] | None:
    """The outcomes a run with series `digest` kept in `path` (None: none)."""
    try:
        kept = json.loads((tree.git_dir(path) / RESULT_RECORD).read_text())
        if kept["series_sha256"] == digest:
            return [Outcome(o["status"], tuple(o["files"])) for o in kept["outcomes"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def apply_series(path: Path, version: str, patches: list[Path]) -> list[Outcome]:
    """The outcome of each patch on release `version`; kept in its tree."""
    reset(path, version)
    outcomes = [classify(path, patch) for patch in patches]
    stow(path)
    record = tree.git_dir(path) / RESULT_RECORD
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "series_sha256": series_digest(patches),
                "outcomes": [
                    {"status": o.status, "files": list(o.files)} for o in outcomes
                ],
            }
        )
    )
    tmp.replace(record)
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """`20 clean, 3 need -3, 4 conflict`."""
    words = {"clean": "clean", "3way": "need -3", "present": "in it"}
    words["conflict"] = "conflict"
    counts = {s: 0 for s in words}
    for o in outcomes:
        counts[o.status] += 1
    return ", ".join(f"{n} {words[s]}" for s, n in counts.items() if n)


# ---------------------------------------------------------------------- run


def build_matrix(
    idx: Index,
    layout: Layout,
    pin: Pin,
    first: str = FIRST,
    log: Log = lambda line: None,
) -> dict[str, Any]:
    """Compute the matrix; returns what matrix_report writes."""
    patches = patch_files(layout.patches)
    if not patches:
        raise SeriesError(f"no patches in {layout.patches}")
    files = idx.find_files(PROJECT)
    versions = releases(idx.versions(PROJECT), first)
    if not versions:
        raise SeriesError(f"no final {PROJECT} release from {first} on the index")
    work = layout.build / "matrix"
    sdists = {v: sdist_of(files, v) for v in dict.fromkeys([pin.version, *versions])}
    trees = {}
    for v, f in sdists.items():
        archive = fetch_sdist(idx, f, layout.downloads)
        trees[v] = release_tree(archive, f.sha256, v, work, log)
    objects = base_objects(trees[pin.version], pin.version, patches, log)
    digest = series_digest(patches)
    rows = []
    for v in versions:
        outcomes = kept_outcomes(trees[v], digest)
        if outcomes is None:
            borrow_objects(trees[v], objects)
            outcomes = apply_series(trees[v], v, patches)
            log(f"{PROJECT} {v}: {summary(outcomes)}")
        else:
            log(f"{PROJECT} {v}: {summary(outcomes)} (kept from the last run)")
        rows.append(Release(v, sdists[v].filename, sdists[v].sha256, outcomes))
    return matrix_report.document(
        pin_tag=pin.tag,
        patches=[(p.name, subject_of(p)) for p in patches],
        series_sha256=series_digest(patches),
        releases=rows,
        date=time.strftime("%Y-%m-%d", time.gmtime()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--first", default=FIRST, help="oldest release (%(default)s)")
    parser.add_argument("--out", default=None, help="output directory (docs/)")
    args = parser.parse_args(argv)
    layout = Layout.default()
    pin = Pin.load(layout.version_file)
    runlock.acquire(layout.lock_file, "matrix.py")
    import index  # the configured package index (pip's own configuration)

    start = time.monotonic()
    doc = build_matrix(
        index, layout, pin, args.first, log=lambda line: print(line, flush=True)
    )
    out = Path(args.out) if args.out else layout.root / "docs"
    written = matrix_report.write(doc, out)
    print(
        f"wrote {', '.join(str(p) for p in written)} "
        f"({len(doc['releases'])} releases, {time.monotonic() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
