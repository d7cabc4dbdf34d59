# SPDX-License-Identifier: Apache-2.0
"""build/vllm as a git tree: the pristine root commit, the series' commits
as exported patches, and the record of the series it was last synced with.

The changes to the tree (apply, export) are in sync.py.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from errors import SeriesError
from fetch import SDIST_ONLY
from gitrun import git, git_run
from patchfile import digests, patch_files, subject_of

# Date of the pristine root commit: fixed, so that every `make apply`
# produces the same root commit for the same source tree.
PRISTINE_DATE = "2026-04-18T00:00:00+00:00"
# Generated at build time (setuptools-scm); git-ignored upstream, never committed.
GENERATED_NAMES = ("_version.py",)
SYNC_FILE = "vllm-mm-patches-synced.json"
APPLYING_FILE = "vllm-mm-patches-applying"

# `git format-patch` options that make the export byte-stable.
FORMAT_PATCH_ARGS = (
    "-c",
    "core.abbrev=12",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.algorithm=myers",
    "-c",
    "diff.relative=false",
    "format-patch",
    "--zero-commit",
    "--no-signature",
    "--no-numbered",
    "--no-renames",
    "--stat=72",
    "--abbrev=12",
    "--no-cover-letter",
    "--no-thread",
    "--no-attach",
    "--encoding=UTF-8",
)
AM_ARGS = (
    "am",
    "-q",
    "--3way",
    "--keep-cr",
    "--keep-non-patch",
    "--no-gpg-sign",
    "--committer-date-is-author-date",
)

Series = list[tuple[str, str]]  # (patch name, sha256), in order


def init_tree(source: Path, tree: Path, tag: str) -> None:
    """Create `tree` as a git repo whose root commit is `source`, tagged."""
    tree.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tree.name + ".tmp-", dir=tree.parent))
    try:
        work = tmp / "tree"
        shutil.copytree(
            source, work, symlinks=True, ignore=shutil.ignore_patterns(*SDIST_ONLY)
        )
        git(work, "init", "-q", "-b", "main")
        git(work, "add", "-A")
        # The sdist also ships files its .gitignore would hide (data files
        # that upstream force-added); they are part of the release.
        ignored = git(
            work, "ls-files", "-z", "--others", "--ignored", "--exclude-standard"
        ).split("\0")
        extra = [p for p in ignored if p and Path(p).name not in GENERATED_NAMES]
        for i in range(0, len(extra), 500):
            git(work, "add", "-f", "--", *extra[i : i + 500])
        git_run(
            work,
            *("commit", "-q", "--no-verify", "--no-gpg-sign"),
            *("-m", f"vLLM {tag} (pristine release source)"),
            env={"GIT_AUTHOR_DATE": PRISTINE_DATE, "GIT_COMMITTER_DATE": PRISTINE_DATE},
        )
        git(work, "tag", "--no-sign", tag)
        work.rename(tree)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_patches(tree: Path, tag: str, out: Path) -> list[Path]:
    """`git format-patch` the commits after `tag` into `out` (git creates it)."""
    stdout = git(tree, *FORMAT_PATCH_ARGS, "-o", str(out), f"{tag}..HEAD")
    return [Path(line) for line in stdout.splitlines() if line.strip()]


def git_dir(tree: Path) -> Path:
    return Path(git(tree, "rev-parse", "--absolute-git-dir").strip())


def in_progress(tree: Path) -> str | None:
    gd = git_dir(tree)
    for name, op in (
        ("rebase-apply", "git am"),
        ("rebase-merge", "git rebase"),
        ("MERGE_HEAD", "a merge"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
    ):
        if (gd / name).exists():
            return op
    return None


def dirty_files(tree: Path) -> list[str]:
    out = git(tree, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in out.splitlines() if line.strip()]


def read_synced(tree: Path) -> Series | None:
    """The series `tree` was last synced with (None: no record)."""
    f = git_dir(tree) / SYNC_FILE
    if not f.is_file():
        return None
    try:
        return [(str(n), str(h)) for n, h in json.loads(f.read_text())]
    except (ValueError, TypeError):
        return None


def write_synced(tree: Path, series: Series) -> None:
    f = git_dir(tree) / SYNC_FILE
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(series, indent=0) + "\n")
    tmp.replace(f)


def is_prefix(a: Series, b: Series) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


def common_prefix(a: Series, b: Series) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass
class TreeState:
    """How build/vllm relates to patches/ and to its last sync."""

    commits: Series  # the tree's commits after the tag, as exported
    subjects: list[str]  # their subjects
    patches: Series  # patches/ now
    synced: Series | None  # the series of the last sync (None: no record)
    dirty: list[str]
    op: str | None

    @property
    def carried(self) -> int:
        """Leading commits equal to the leading patches."""
        return common_prefix(self.commits, self.patches)

    @property
    def changed_since_sync(self) -> bool:
        return self.synced is not None and self.synced != self.patches

    @property
    def local_commits(self) -> list[str]:
        """Subjects of commits that neither patches/ nor the last sync hold."""
        if is_prefix(self.commits, self.patches):
            return []
        if self.synced is not None and is_prefix(self.commits, self.synced):
            return []
        base = max(
            self.carried,
            common_prefix(self.commits, self.synced or []),
        )
        return self.subjects[base:]

    @property
    def up_to_date(self) -> bool:
        return self.commits == self.patches and not self.dirty and not self.op


def tree_state(tree: Path, tag: str, patches_dir: Path) -> TreeState:
    with tempfile.TemporaryDirectory() as d:
        exported = format_patches(tree, tag, Path(d))
        commits = digests(exported)
        subjects = [subject_of(p) for p in exported]
    return TreeState(
        commits=commits,
        subjects=subjects,
        patches=digests(patch_files(patches_dir)),
        synced=read_synced(tree),
        dirty=dirty_files(tree),
        op=in_progress(tree),
    )


def check_tree(tree: Path, tag: str) -> None:
    """Refuse a tree that `make apply` did not make."""
    if git(tree, "tag", "-l", tag).strip() != tag:
        raise SeriesError(f"{tree} has no tag {tag}; it was not made by `make apply`")
    proc = git_run(tree, "merge-base", "--is-ancestor", tag, "HEAD", check=False)
    if proc.returncode != 0:
        raise SeriesError(f"{tree}: HEAD does not descend from {tag}")
