# SPDX-License-Identifier: Apache-2.0
"""The one way the tooling runs git (and other programs): hermetically.

The user's global and system git configuration is ignored (signing, hooks,
`core.autocrlf`, editors, aliases, templates), every inherited GIT_* variable
is dropped, settings a repository's own config could carry are overridden,
and commits get a fixed identity. Failures keep git's own message.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from errors import SeriesError

# Identity of every commit the tooling makes (the pristine root commit and
# the committer of applied patches; authors come from the patches).
IDENTITY = {
    "GIT_AUTHOR_NAME": "vllm-mm-patches",
    "GIT_AUTHOR_EMAIL": "vllm-mm-patches@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "vllm-mm-patches",
    "GIT_COMMITTER_EMAIL": "vllm-mm-patches@users.noreply.github.com",
}
# `-c` settings that win over a repository's own .git/config too.
OVERRIDES = (
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "tag.forceSignAnnotated=false",
    "format.signOff=false",
    "am.threeWay=false",
    "am.keepCR=false",
    "core.autocrlf=false",
    "core.eol=lf",
    "core.safecrlf=false",
    f"core.hooksPath={os.devnull}",
    "core.editor=true",
    "core.pager=cat",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
)


def hermetic_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: os.environ) without GIT_*, plus the fixed settings."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("GIT_")
    }
    env.update(IDENTITY)
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_EDITOR="true",
        GIT_SEQUENCE_EDITOR="true",
        GIT_PAGER="cat",
        GIT_ASKPASS="true",
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


def run(
    cmd: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; with `check`, a failure is a SeriesError with its message."""
    try:
        proc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=None if env is None else dict(env),
            text=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SeriesError(f"{what} failed: {cmd[0]} is not installed") from None
    if check and proc.returncode != 0:
        raise SeriesError(f"{what} failed: {last_line(proc)}")
    return proc


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The most telling line of a failed command's output."""
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines()]
    lines = [ln for ln in lines if ln and not ln.lower().startswith("hint:")]
    errors = [ln for ln in lines if ln.startswith(("error:", "fatal:"))]
    if errors:
        return errors[0]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def git_cmd(*args: str, tree: Path | None = None) -> list[str]:
    """The argv of a hermetic git command (run it with `hermetic_env()`)."""
    cmd = ["git"]
    for setting in OVERRIDES:
        cmd += ["-c", setting]
    if tree is not None:
        cmd += ["-C", str(tree)]
    return [*cmd, *args]


def git_run(
    tree: Path | None,
    *args: str,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run git hermetically in `tree`; `env` adds variables (e.g. dates)."""
    full_env = hermetic_env()
    if env:
        full_env.update(env)
    return run(
        git_cmd(*args, tree=tree),
        what=what or f"git {next(a for a in args if not a.startswith('-'))}",
        env=full_env,
        check=check,
    )


def git(tree: Path | None, *args: str, check: bool = True) -> str:
    """Stdout of a hermetic git command."""
    return git_run(tree, *args, check=check).stdout
