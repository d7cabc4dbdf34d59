#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fetch the pinned vLLM source, apply the patch series, export it, lint it.

    series.py fetch            download + verify + unpack the pinned sdist
                               (or clone VLLM_GIT_URL at the tag)
    series.py apply [--force]  build/vllm = pristine tag + patches/*.patch
    series.py export           build/vllm commits after the tag -> patches/
    series.py check            lint the series (messages, clean apply, ruff)
    series.py test-files       the vLLM test files `make test` runs

Every user-facing failure is a `SeriesError`: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Identity and date of the pristine root commit: fixed, so that every
# `make apply` produces the same root commit for the same source tree.
PRISTINE_AUTHOR = "vllm-mm-patches"
PRISTINE_EMAIL = "vllm-mm-patches@users.noreply.github.com"
PRISTINE_DATE = "2026-04-18T00:00:00+00:00"

# Files of the sdist that are packaging artifacts, not part of the git tree.
SDIST_ONLY = ("PKG-INFO", "vllm.egg-info")
# Generated at build time (setuptools-scm); git-ignored upstream, never committed.
GENERATED_NAMES = ("_version.py",)

# `git format-patch` options that make the export byte-stable whatever the
# user's git configuration is (the global/system config is ignored too).
FORMAT_PATCH_ARGS = (
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
REQUIRED_TRAILERS = ("Upstream", "Signed-off-by")


class SeriesError(Exception):
    """A failure the user can act on; printed as one line."""


@dataclass(frozen=True)
class Pin:
    """What VERSION pins."""

    tag: str
    version: str
    sdist_name: str
    sdist_url: str
    sdist_sha256: str
    sdist_size: int

    @classmethod
    def load(cls, path: Path) -> Pin:
        values = read_kv(path)
        try:
            return cls(
                tag=values["VLLM_TAG"],
                version=values["VLLM_VERSION"],
                sdist_name=values["SDIST_NAME"],
                sdist_url=values["SDIST_URL"],
                sdist_sha256=values["SDIST_SHA256"],
                sdist_size=int(values["SDIST_SIZE"]),
            )
        except KeyError as e:
            raise SeriesError(f"{path}: missing key {e.args[0]}") from None


def read_kv(path: Path) -> dict[str, str]:
    """Parse a KEY=VALUE file (comments with '#')."""
    if not path.is_file():
        raise SeriesError(f"{path} not found")
    values: dict[str, str] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise SeriesError(f"{path}:{n}: expected KEY=VALUE, got {raw!r}")
        values[key] = value
    return values


@dataclass(frozen=True)
class Layout:
    """Where things live. Tests point it at temporary directories."""

    root: Path
    build: Path
    patches: Path

    @classmethod
    def default(cls) -> Layout:
        build = Path(os.environ.get("SERIES_BUILD_DIR", ROOT / "build"))
        return cls(root=ROOT, build=build, patches=ROOT / "patches")

    @property
    def downloads(self) -> Path:
        return self.build / "downloads"

    @property
    def src(self) -> Path:
        return self.build / "src"

    @property
    def tree(self) -> Path:
        return self.build / "vllm"


# --------------------------------------------------------------------- fetch


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


def download(url: str, dest: Path, sha256: str, size: int | None) -> Path:
    """Download `url` to `dest` unless a verified copy is already there.

    The file is written to a temporary name and only renamed into place once
    its size and checksum are right, so a failed download leaves nothing.
    """
    if dest.exists():
        verify_file(dest, sha256, size)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        if url.startswith("/") or url.startswith("file://"):
            shutil.copyfile(url.removeprefix("file://"), tmp)
        else:
            with urllib.request.urlopen(url, timeout=60) as resp, tmp.open("wb") as f:
                shutil.copyfileobj(resp, f, 1 << 20)
        verify_file(tmp, sha256, size)
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
    tmp.rename(dest)
    return dest


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
            tar.extractall(tmp, filter="data")
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


def fetch(layout: Layout, pin: Pin, git_url: str | None = None) -> Path:
    """Return the directory holding the pristine source of the pin."""
    if git_url:
        dest = layout.src / f"vllm-{pin.version}-git"
        if dest.is_dir():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp-", dir=dest.parent))
        try:
            run(
                [
                    "git",
                    "clone",
                    "-q",
                    "--depth",
                    "1",
                    "--branch",
                    pin.tag,
                    git_url,
                    str(tmp / "tree"),
                ],
                what=f"clone {git_url} at {pin.tag}",
            )
            shutil.rmtree(tmp / "tree" / ".git")
            (tmp / "tree").rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest
    archive = download(
        pin.sdist_url,
        layout.downloads / pin.sdist_name,
        pin.sdist_sha256,
        pin.sdist_size,
    )
    return unpack_sdist(archive, layout.src / f"vllm-{pin.version}")


def source_dir(layout: Layout, pin: Pin) -> Path:
    git_dir = layout.src / f"vllm-{pin.version}-git"
    if os.environ.get("VLLM_GIT_URL") and git_dir.is_dir():
        return git_dir
    sdist_dir = layout.src / f"vllm-{pin.version}"
    if sdist_dir.is_dir():
        return sdist_dir
    raise SeriesError(f"no pristine source under {layout.src}: run `make fetch`")


# ----------------------------------------------------------------------- git


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    what: str,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, env=env, text=True, capture_output=True
        )
    except FileNotFoundError:
        raise SeriesError(f"{what} failed: {cmd[0]} is not installed") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {proc.returncode}"
        raise SeriesError(f"{what} failed: {last}")
    return proc


def git(tree: Path, *args: str, check: bool = True) -> str:
    return run(
        ["git", "-C", str(tree), *args], what=f"git {args[0]}", check=check
    ).stdout


def clean_git_env() -> dict[str, str]:
    """Environment with the user's global and system git config ignored."""
    env = dict(os.environ)
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return env


def init_tree(source: Path, tree: Path, tag: str) -> None:
    """Create `tree` as a git repo whose root commit is `source`, tagged."""
    tmp = Path(tempfile.mkdtemp(prefix=tree.name + ".tmp-", dir=tree.parent))
    try:
        work = tmp / "tree"
        shutil.copytree(
            source, work, symlinks=True, ignore=shutil.ignore_patterns(*SDIST_ONLY)
        )
        git(work, "init", "-q", "-b", "main")
        git(work, "config", "user.name", PRISTINE_AUTHOR)
        git(work, "config", "user.email", PRISTINE_EMAIL)
        git(work, "add", "-A")
        # The sdist also ships files its .gitignore would hide (data files
        # that upstream force-added); they are part of the release.
        ignored = git(
            work, "ls-files", "-z", "--others", "--ignored", "--exclude-standard"
        ).split("\0")
        extra = [p for p in ignored if p and Path(p).name not in GENERATED_NAMES]
        for i in range(0, len(extra), 500):
            git(work, "add", "-f", "--", *extra[i : i + 500])
        env = dict(os.environ)
        env.update(GIT_AUTHOR_DATE=PRISTINE_DATE, GIT_COMMITTER_DATE=PRISTINE_DATE)
        run(
            [
                "git",
                "-C",
                str(work),
                "commit",
                "-q",
                "--no-verify",
                "-m",
                f"vLLM {tag} (pristine release source)",
            ],
            what="git commit",
            env=env,
        )
        git(work, "tag", tag)
        work.rename(tree)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def patch_files(patches: Path) -> list[Path]:
    if not patches.is_dir():
        return []
    return sorted(patches.glob("*.patch"))


def format_patches(tree: Path, tag: str, out: Path) -> list[Path]:
    """`git format-patch` the commits after `tag` into `out`, stably."""
    out.mkdir(parents=True, exist_ok=True)
    proc = run(
        [
            "git",
            "-C",
            str(tree),
            "-c",
            "core.abbrev=12",
            "-c",
            "diff.noprefix=false",
            "-c",
            "diff.mnemonicPrefix=false",
            "-c",
            "diff.algorithm=myers",
            *FORMAT_PATCH_ARGS,
            "-o",
            str(out),
            f"{tag}..HEAD",
        ],
        what="git format-patch",
        env=clean_git_env(),
    )
    return [Path(line) for line in proc.stdout.splitlines() if line.strip()]


def in_progress(tree: Path) -> str | None:
    gitdir = Path(git(tree, "rev-parse", "--absolute-git-dir").strip())
    for name, op in (
        ("rebase-apply", "git am"),
        ("rebase-merge", "git rebase"),
        ("MERGE_HEAD", "a merge"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ):
        if (gitdir / name).exists():
            return op
    return None


def dirty_files(tree: Path) -> list[str]:
    out = git(tree, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in out.splitlines() if line.strip()]


@dataclass
class TreeState:
    """How build/vllm relates to patches/."""

    carried: int  # leading commits equal to patches[:carried]
    extra: list[str]  # subjects of commits that patches/ does not carry


def compare_with_patches(tree: Path, tag: str, patches: list[Path]) -> TreeState:
    with tempfile.TemporaryDirectory() as d:
        exported = format_patches(tree, tag, Path(d))
        carried = 0
        for mine, theirs in zip(exported, patches):
            if mine.name != theirs.name or mine.read_bytes() != theirs.read_bytes():
                break
            carried += 1
        extra = [subject_of(p) for p in exported[carried:]]
    return TreeState(carried=carried, extra=extra)


def subject_of(patch: Path) -> str:
    msg = email.message_from_bytes(patch.read_bytes(), policy=email.policy.default)
    return re.sub(r"^\[PATCH[^\]]*\]\s*", "", str(msg.get("Subject", ""))).strip()


def conflict_report(tree: Path, patch: Path) -> str:
    """Name the files of `patch` that do not apply (called mid-`git am`)."""
    files = git(tree, "diff", "--name-only", "--diff-filter=U").split()
    if not files:
        proc = run(
            ["git", "-C", str(tree), "apply", "--check", str(patch)],
            what="git apply --check",
            check=False,
        )
        for line in proc.stderr.splitlines():
            m = re.match(r"error: (?:patch failed: )?([^:]+):", line)
            if m and m.group(1) not in files:
                files.append(m.group(1))
    return ", ".join(files) if files else "(git am gave no file; see `git am` output)"


def backup_and_reset(tree: Path, tag: str) -> str:
    """Keep the current state under refs/backups/ and reset to `tag`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ref = f"refs/backups/apply-{stamp}"
    if in_progress(tree) == "git am":
        git(tree, "am", "--abort", check=False)
    git(tree, "update-ref", ref, "HEAD")
    kept = [ref]
    if dirty_files(tree):
        git(
            tree,
            "stash",
            "push",
            "--include-untracked",
            "-q",
            "-m",
            f"make apply FORCE=1 at {stamp}",
        )
        kept.append("stash@{0}")
    git(tree, "reset", "-q", "--hard", tag)
    return " and ".join(kept)


def apply(layout: Layout, pin: Pin, force: bool = False) -> str:
    """Bring build/vllm to pristine + patches/. Returns a one-line summary."""
    tree, tag = layout.tree, pin.tag
    patches = patch_files(layout.patches)
    notes: list[str] = []
    if tree.exists() and not (tree / ".git").exists():
        if not force:
            raise SeriesError(
                f"{tree} exists but is not a git repository; move it away, or "
                f"run `make apply FORCE=1` to set it aside"
            )
        aside = tree.with_name(f"{tree.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        tree.rename(aside)
        notes.append(f"old {tree.name} moved to {aside}")
    if not tree.exists():
        init_tree(source_dir(layout, pin), tree, tag)
    if git(tree, "tag", "-l", tag).strip() != tag:
        raise SeriesError(f"{tree} has no tag {tag}; it was not made by `make apply`")
    if (
        run(
            ["git", "-C", str(tree), "merge-base", "--is-ancestor", tag, "HEAD"],
            what="git merge-base",
            check=False,
        ).returncode
        != 0
    ):
        raise SeriesError(f"{tree}: HEAD does not descend from {tag}")

    op = in_progress(tree)
    dirty = dirty_files(tree)
    state = compare_with_patches(tree, tag, patches)
    if not force:
        if op:
            raise SeriesError(
                f"{tree} is in the middle of {op}: finish it (`git -C {tree} am "
                f"--continue` / `--abort`) or discard with `make apply FORCE=1`"
            )
        if dirty:
            shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
            raise SeriesError(
                f"{tree} has uncommitted changes ({shown}): commit them and run "
                f"`make export` to keep them, or `make apply FORCE=1` to discard "
                f"them (they are kept in a stash)"
            )
        if state.extra:
            raise SeriesError(
                f"{tree} has {len(state.extra)} commit(s) that patches/ does not "
                f"carry ({'; '.join(state.extra[:3])}): run `make export` to keep "
                f"them, or `make apply FORCE=1` to discard them (kept under "
                f"refs/backups/)"
            )
    elif op or dirty or state.extra:
        kept = backup_and_reset(tree, tag)
        notes.append(f"previous state kept as {kept}")
        state = TreeState(carried=0, extra=[])

    todo = patches[state.carried :]
    for i, patch in enumerate(todo, start=state.carried):
        proc = run(
            [
                "git",
                "-C",
                str(tree),
                "am",
                "-q",
                "--3way",
                "--keep-cr",
                "--keep-non-patch",
                "--committer-date-is-author-date",
                str(patch.resolve()),
            ],
            what=f"git am {patch.name}",
            check=False,
        )
        if proc.returncode != 0:
            files = conflict_report(tree, patch)
            git(tree, "am", "--abort", check=False)
            last = patches[i - 1].name if i else f"the pristine {tag}"
            raise SeriesError(
                f"{patch.name} does not apply (conflicts in {files}); {tree} is "
                f"left at {last}"
            )
    done = f"{tree}: {tag} + {len(patches)} patch(es)"
    done += f", applied {len(todo)} now" if todo else ", already up to date"
    return "; ".join([done, *notes])


def export(layout: Layout, pin: Pin) -> str:
    """Write the commits after the tag to patches/, byte-stably."""
    tree = layout.tree
    if not (tree / ".git").exists():
        raise SeriesError(f"{tree} does not exist: run `make apply` first")
    if op := in_progress(tree):
        raise SeriesError(f"{tree} is in the middle of {op}: finish it first")
    if dirty := dirty_files(tree):
        raise SeriesError(
            f"{tree} has uncommitted changes ({', '.join(dirty[:5])}): commit "
            f"them (`git -C {tree} commit`) before `make export`, they would not "
            f"be exported"
        )
    layout.patches.mkdir(parents=True, exist_ok=True)
    changed = removed = 0
    with tempfile.TemporaryDirectory() as d:
        fresh = format_patches(tree, pin.tag, Path(d))
        names = {p.name for p in fresh}
        for old in patch_files(layout.patches):
            if old.name not in names:
                old.unlink()
                removed += 1
        for new in fresh:
            dest = layout.patches / new.name
            data = new.read_bytes()
            if not dest.exists() or dest.read_bytes() != data:
                dest.write_bytes(data)
                changed += 1
    return f"patches/: {len(fresh)} patch(es), {changed} written, {removed} removed"


def status(layout: Layout, pin: Pin, require_clean: bool = False) -> str:
    """Say how build/vllm relates to patches/; fail if asked and not clean."""
    tree = layout.tree
    if not (tree / ".git").exists():
        return f"{tree}: not created (run `make apply`)"
    patches = patch_files(layout.patches)
    state = compare_with_patches(tree, pin.tag, patches)
    dirty = dirty_files(tree)
    op = in_progress(tree)
    problems = []
    if op:
        problems.append(f"in the middle of {op}")
    if dirty:
        problems.append(f"{len(dirty)} uncommitted change(s)")
    if state.extra:
        problems.append(f"{len(state.extra)} commit(s) not in patches/ (make export)")
    line = f"{tree}: {pin.tag} + {state.carried}/{len(patches)} patch(es)"
    if problems:
        line += "; " + "; ".join(problems)
        if require_clean:
            raise SeriesError(line)
    return line


# --------------------------------------------------------------------- check


def check_message(patch: Path) -> list[str]:
    """Problems with the commit message of `patch` (empty if none)."""
    raw = patch.read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    problems: list[str] = []
    if not subject_of(patch):
        problems.append("no subject")
    payload = msg.get_payload(decode=True)
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    message = re.split(r"^---$", text, maxsplit=1, flags=re.M)[0].strip()
    if "diff --git" not in text:
        problems.append("no diff")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", message) if p.strip()]
    trailer_re = re.compile(r"^([A-Za-z][A-Za-z-]*): (.+)$")
    trailers: dict[str, str] = {}
    if paragraphs:
        for line in paragraphs[-1].splitlines():
            m = trailer_re.match(line)
            if m:
                trailers.setdefault(m.group(1), m.group(2))
    body = paragraphs[:-1] if trailers else paragraphs
    if not body:
        problems.append("no body (what and why)")
    for name in REQUIRED_TRAILERS:
        if name not in trailers:
            problems.append(f"no {name}: trailer")
    upstream = trailers.get("Upstream", "")
    if upstream.startswith("http") and "Backport-notes" not in trailers:
        problems.append("a backport needs a Backport-notes: trailer")
    if upstream and not (upstream.startswith("http") or upstream.startswith("none")):
        problems.append("Upstream: must be a PR URL or 'none (...)'")
    return problems


def touched_files(patches: list[Path]) -> list[str]:
    """Paths the series adds or modifies (b/ side of every diff), in order."""
    seen: dict[str, None] = {}
    for patch in patches:
        for line in patch.read_text(errors="replace").splitlines():
            m = re.match(r"^\+\+\+ b/(.+)$", line)
            if m:
                seen.setdefault(m.group(1), None)
    return list(seen)


def check(layout: Layout, pin: Pin, ruff: str | None) -> str:
    """Lint the series; `ruff=None` skips the ruff step (tests only)."""
    patches = patch_files(layout.patches)
    problems: list[str] = []
    for i, patch in enumerate(patches, 1):
        if not re.match(rf"^{i:04d}-[\w.-]+\.patch$", patch.name):
            problems.append(f"{patch.name}: expected the number {i:04d}")
        problems += [f"{patch.name}: {p}" for p in check_message(patch)]
    if not (layout.tree / ".git").exists():
        raise SeriesError(f"{layout.tree} does not exist: run `make apply` first")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d) / "vllm"
        run(
            [
                "git",
                "clone",
                "-q",
                "--shared",
                "--no-checkout",
                str(layout.tree),
                str(work),
            ],
            what="git clone",
        )
        git(work, "checkout", "-q", pin.tag)
        for patch in patches:
            # Plain `git apply`: exact context, no fuzz, no 3-way merge.
            proc = run(
                [
                    "git",
                    "-C",
                    str(work),
                    "apply",
                    "--index",
                    "--whitespace=error-all",
                    str(patch.resolve()),
                ],
                what="git apply",
                check=False,
            )
            if proc.returncode != 0:
                problems.append(
                    f"{patch.name}: does not apply cleanly in order: "
                    f"{proc.stderr.strip().splitlines()[-1:]}"
                )
                break
        else:
            py = [
                f
                for f in touched_files(patches)
                if f.endswith(".py") and (work / f).is_file()
            ]
            if py and ruff is not None:
                ruff_exe = shutil.which(ruff)
                if ruff_exe is None:
                    raise SeriesError(f"{ruff} not found: run `make build` first")
                ruff_exe = str(Path(ruff_exe).resolve())
                for args in (["check"], ["format", "--check"]):
                    proc = run(
                        [ruff_exe, *args, *py], cwd=work, what="ruff", check=False
                    )
                    if proc.returncode != 0:
                        out = (proc.stdout + proc.stderr).strip()
                        problems.append(f"ruff {' '.join(args)}:\n{out}")
    if problems:
        raise SeriesError(f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return f"{len(patches)} patch(es) OK: messages, clean apply, ruff"


# ---------------------------------------------------------------- test files


def manifest_entries(path: Path) -> list[tuple[str, str, str]]:
    """(path, 'run'|'exclude', reason) lines of the vLLM test manifest."""
    entries: list[tuple[str, str, str]] = []
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
        entries.append((parts[0], parts[1], reason))
    return entries


def deselected(manifest: Path) -> list[str]:
    """Test ids (`file::test`) the manifest excludes inside a file it runs."""
    return [
        p
        for p, status, _ in manifest_entries(manifest)
        if status == "exclude" and "::" in p
    ]


def test_files(layout: Layout, manifest: Path) -> list[str]:
    """vLLM test files to run: those the series adds/changes + the manifest's."""
    entries = manifest_entries(manifest)
    for entry, _, _ in entries:
        if not (layout.tree / entry.split("::")[0]).is_file():
            raise SeriesError(f"{manifest}: {entry} does not exist in {layout.tree}")
    excluded = {p for p, status, _ in entries if status == "exclude"}
    wanted = [
        f
        for f in touched_files(patch_files(layout.patches))
        if f.startswith("tests/")
        and Path(f).name.startswith("test_")
        and f.endswith(".py")
        and f not in excluded
        # a file the series adds, then deletes
        and (layout.tree / f).is_file()
    ]
    wanted += [p for p, status, _ in entries if status == "run"]
    return list(dict.fromkeys(wanted))


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch")
    p_apply = sub.add_parser("apply")
    p_apply.add_argument(
        "--force",
        action="store_true",
        help="discard local work (kept under refs/backups/)",
    )
    sub.add_parser("export")
    p_status = sub.add_parser("status")
    p_status.add_argument(
        "--require-clean",
        action="store_true",
        help="fail if build/vllm has work patches/ lacks",
    )
    p_check = sub.add_parser("check")
    p_check.add_argument(
        "--ruff", default=str(ROOT / "build" / "venv" / "bin" / "ruff")
    )
    p_tests = sub.add_parser("test-files")
    p_tests.add_argument(
        "--manifest", type=Path, default=ROOT / "tests" / "vllm-tests.txt"
    )
    args = parser.parse_args(argv)

    layout = Layout.default()
    pin = Pin.load(layout.root / "VERSION")
    try:
        if args.cmd == "fetch":
            print(
                f"pristine source: {fetch(layout, pin, os.environ.get('VLLM_GIT_URL'))}"
            )
        elif args.cmd == "apply":
            fetch(layout, pin, os.environ.get("VLLM_GIT_URL"))
            print(apply(layout, pin, force=args.force))
        elif args.cmd == "export":
            print(export(layout, pin))
        elif args.cmd == "status":
            print(status(layout, pin, args.require_clean))
        elif args.cmd == "check":
            print(check(layout, pin, args.ruff))
        elif args.cmd == "test-files":
            files = test_files(layout, args.manifest)
            files += [f"--deselect={t}" for t in deselected(args.manifest)]
            print("\n".join(files))
    except SeriesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
