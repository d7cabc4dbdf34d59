# SPDX-License-Identifier: Apache-2.0
"""build/vllm: the pristine tag plus the series, and its sync with patches/.

The tree records which series it was last synced with (`make apply` or
`make export`) in its git dir. With that record:

- local work = uncommitted changes, or commits that are neither a prefix of
  the recorded series nor of patches/;
- `apply` brings a tree without local work to patches/ (after a `git pull`),
  and refuses, in one line, a tree with local work (FORCE=1 keeps a backup);
- `export` never deletes or overwrites a patch that changed in patches/ since
  the last sync;
- `ensure` (before `make build`/`make test`) applies a stale tree or refuses.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

from errors import SeriesError
from gitrun import git, git_run, last_line
from patchfile import digests, patch_files
from tree import APPLYING_FILE, AM_ARGS, check_tree, dirty_files, format_patches
from tree import git_dir, in_progress, read_synced, tree_state, write_synced


def recover_interrupted_apply(tree: Path) -> bool:
    """Undo what an interrupted `make apply` left (True if it left anything).

    Called with the checkout's lock held, so a leftover index.lock is stale.
    """
    gd = git_dir(tree)
    marker = gd / APPLYING_FILE
    if not marker.exists():
        return False
    (gd / "index.lock").unlink(missing_ok=True)
    if (gd / "rebase-apply").exists():
        git_run(tree, "am", "--abort", check=False)
        shutil.rmtree(gd / "rebase-apply", ignore_errors=True)
    git(tree, "reset", "-q", "--hard", "HEAD")
    marker.unlink()
    return True


def backup(tree: Path, stash_dirty: bool) -> str:
    """Keep HEAD (and uncommitted work) under refs/backups/; say where."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ref = f"refs/backups/apply-{stamp}"
    n = 1
    while (
        git_run(tree, "rev-parse", "-q", "--verify", ref, check=False).returncode == 0
    ):
        n += 1
        ref = f"refs/backups/apply-{stamp}-{n}"
    if in_progress(tree) == "git am":
        git_run(tree, "am", "--abort", check=False)
    git(tree, "update-ref", ref, "HEAD")
    kept = [ref]
    if stash_dirty and dirty_files(tree):
        git(tree, "stash", "push", "--include-untracked", "-q", "-m", f"apply {stamp}")
        kept.append("stash@{0}")
    return " and ".join(kept)


def conflicting_files(tree: Path, patch: Path) -> list[str]:
    """Files of `patch` that do not apply to the tree (called mid-`git am`)."""
    files = git(tree, "diff", "--name-only", "--diff-filter=U").split()
    proc = git_run(tree, "apply", "--check", str(patch), check=False)
    for line in proc.stderr.splitlines():
        m = re.match(r"^error: patch failed: (.+):\d+$", line) or re.match(
            r"^error: (.+): (?:does not exist in index|already exists in "
            r"(?:index|working directory)|does not match index|No such file or "
            r"directory)$",
            line,
        )
        if m and m.group(1) not in files:
            files.append(m.group(1))
    return files


def am(tree: Path, patch: Path, previous: str) -> None:
    """`git am` one patch; on failure the tree is back at `previous`."""
    proc = git_run(tree, *AM_ARGS, str(patch.resolve()), check=False)
    if proc.returncode == 0:
        return
    files = conflicting_files(tree, patch) if patch.is_file() else []
    git_run(tree, "am", "--abort", check=False)
    where = f"{tree} is left at {previous}"
    if files:
        raise SeriesError(
            f"{patch.name} does not apply (conflicts in {', '.join(files)}); {where}"
        )
    if not patch.is_file():
        raise SeriesError(
            f"{patch.name} disappeared while it was applied (another command "
            f"changing patches/?); {where}"
        )
    why = last_line(proc)
    if (git_dir(tree) / "index.lock").exists():
        why += " (index.lock exists: another git command runs in the tree, or one was killed)"
    raise SeriesError(f"{patch.name}: git am failed: {why}; {where}")


def apply(tree: Path, tag: str, patches_dir: Path, force: bool = False) -> str:
    """Bring `tree` (made by init_tree) to patches/. Returns one line."""
    notes: list[str] = []
    check_tree(tree, tag)
    if recover_interrupted_apply(tree):
        notes.append("recovered from an interrupted apply")
    state = tree_state(tree, tag, patches_dir)
    local = state.local_commits
    if not force:
        if state.op:
            raise SeriesError(
                f"{tree} is in the middle of {state.op}: finish it (`git -C {tree} "
                f"am --continue` / `--abort`) or discard with `make apply FORCE=1`"
            )
        if state.dirty:
            shown = ", ".join(state.dirty[:5]) + (
                " ..." if len(state.dirty) > 5 else ""
            )
            raise SeriesError(
                f"{tree} has uncommitted changes ({shown}): commit them and run "
                f"`make export` to keep them, or `make apply FORCE=1` to discard "
                f"them (they are kept in a stash)"
            )
        if local:
            pulled = (
                "; patches/ also changed since the last sync (git pull?), so "
                "`make export` would refuse: "
                if state.changed_since_sync
                else ": run `make export` to keep them, or "
            )
            raise SeriesError(
                f"{tree} has {len(local)} commit(s) that patches/ does not carry "
                f"({'; '.join(local[:3])}){pulled}`make apply FORCE=1` to "
                f"discard them (kept under refs/backups/)"
            )
    base = state.carried
    discard = bool(state.op or state.dirty or local)  # only with FORCE
    if discard or base < len(state.commits):
        kept = backup(tree, stash_dirty=bool(state.dirty or state.op))
        if discard:
            base = 0
        target = tag if base == 0 else f"HEAD~{len(state.commits) - base}"
        git(tree, "reset", "-q", "--hard", target)
        notes.append(f"previous state kept as {kept}")
    patches = patch_files(patches_dir)
    todo = patches[base:]
    marker = git_dir(tree) / APPLYING_FILE
    marker.write_text("make apply\n")
    for i, patch in enumerate(todo, start=base):
        am(tree, patch, patches[i - 1].name if i else f"the pristine {tag}")
    write_synced(tree, digests(patches))
    marker.unlink()
    done = f"{tree}: {tag} + {len(patches)} patch(es)"
    done += f", applied {len(todo)} now" if todo else ", already up to date"
    return "; ".join([done, *notes])


def export(tree: Path, tag: str, patches_dir: Path) -> str:
    """Write the commits after the tag to patches/, byte-stably."""
    if op := in_progress(tree):
        raise SeriesError(f"{tree} is in the middle of {op}: finish it first")
    if dirty := dirty_files(tree):
        raise SeriesError(
            f"{tree} has uncommitted changes ({', '.join(dirty[:5])}): commit "
            f"them (`git -C {tree} commit`) before `make export`, they would not "
            f"be exported"
        )
    patches_dir.mkdir(parents=True, exist_ok=True)
    synced = dict(read_synced(tree) or digests(patch_files(patches_dir)))
    changed = removed = 0
    with tempfile.TemporaryDirectory() as d:
        fresh = format_patches(tree, tag, Path(d))
        new = {p.name: p.read_bytes() for p in fresh}
        now = digests(patch_files(patches_dir))
        lost = [
            name
            for name, sha in now
            if synced.get(name) != sha
            and (name not in new or digests([Path(d) / name])[0][1] != sha)
        ]
        if lost:
            raise SeriesError(
                f"patches/ changed since {tree} was last synced (git pull?): "
                f"`make export` would delete or overwrite {', '.join(lost[:3])}"
                f"{' ...' if len(lost) > 3 else ''}; run `make apply` first"
            )
        for name, _ in now:
            if name not in new:
                (patches_dir / name).unlink()
                removed += 1
        for name, data in new.items():
            dest = patches_dir / name
            if not dest.exists() or dest.read_bytes() != data:
                dest.write_bytes(data)
                changed += 1
    write_synced(tree, digests(patch_files(patches_dir)))
    return f"patches/: {len(fresh)} patch(es), {changed} written, {removed} removed"


def status(tree: Path, tag: str, patches_dir: Path) -> tuple[str, list[str]]:
    """One line on how `tree` relates to patches/, and its problems."""
    state = tree_state(tree, tag, patches_dir)
    problems = []
    if state.op:
        problems.append(f"in the middle of {state.op}")
    if state.dirty:
        problems.append(f"{len(state.dirty)} uncommitted change(s)")
    if state.local_commits:
        problems.append(
            f"{len(state.local_commits)} commit(s) not in patches/ (make export)"
        )
    if state.changed_since_sync:
        problems.append("patches/ changed since the last sync (make apply)")
    line = f"{tree}: {tag} + {state.carried}/{len(state.patches)} patch(es)"
    return line, problems


def ensure(tree: Path, tag: str, patches_dir: Path) -> str | None:
    """Before build/test: None if `tree` may be tested as it is, or why not.

    A tree without local work that differs from patches/ must be applied
    first (the caller does it); one with local work is tested as it is,
    unless patches/ changed since its last sync.
    """
    check_tree(tree, tag)
    state = tree_state(tree, tag, patches_dir)
    gd = git_dir(tree)
    if (gd / APPLYING_FILE).exists():
        return "apply"
    local = state.local_commits
    if state.op:
        raise SeriesError(
            f"{tree} is in the middle of {state.op}: finish it, or run "
            f"`make apply FORCE=1`, before building or testing"
        )
    if not local and not state.dirty:
        return None if state.commits == state.patches else "apply"
    if state.changed_since_sync:
        raise SeriesError(
            f"{tree} is stale: patches/ changed since its last sync and it has "
            f"local work; run `make export` or `make apply FORCE=1` first"
        )
    return None
