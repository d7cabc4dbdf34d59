# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the tooling tests: synthetic sdists, a hostile git config.

Every tooling test runs with a global and system git config that sets what
breaks a naive tool (signing, hooks, autocrlf, an editor that fails, aliases,
diff/format options) and with stray GIT_* variables; the tests' own git
commands (standing in for the user) ignore it.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from pin import Artifact, Layout, Pin  # noqa: E402

TAG = "v0.0.1"
GOOD_TRAILERS = (
    "Upstream: https://github.com/vllm-project/vllm/pull/1\n"
    "Backport-notes: none needed\n"
    "Signed-off-by: Dev <dev@example.com>"
)
SOURCE = {
    "README.md": "pristine\n",
    "pkg/mod.py": "".join(f"line {i}\n" for i in range(20)),
    "pkg/other.py": "x = 1\n",
    "pkg/dos.txt": "crlf line\r\nsecond\r\n",
    "PKG-INFO": "Metadata-Version: 2.1\n",
    ".gitignore": "*.so\n/pkg/_version.py\n/data/\n",
    "data/table.json": "{}\n",
    "pkg/_version.py": "__version__ = '0.0.1'\n",
}


def hostile_git_config(home: Path) -> dict[str, str]:
    """Environment of a user whose git config breaks a naive tool."""
    hooks = home / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    for name in (
        "pre-commit",
        "commit-msg",
        "pre-applypatch",
        "applypatch-msg",
        "post-applypatch",
        "post-commit",
        "post-checkout",
        "reference-transaction",
    ):
        hook = hooks / name
        hook.write_text("#!/bin/sh\necho hostile hook >&2\nexit 1\n")
        hook.chmod(0o755)
    template = home / "template"
    (template / "hooks").mkdir(parents=True, exist_ok=True)
    for hook in hooks.iterdir():
        (template / "hooks" / hook.name).write_bytes(hook.read_bytes())
        (template / "hooks" / hook.name).chmod(0o755)
    config = home / ".gitconfig"
    config.write_text(
        f"""\
[user]
\tname = Hostile User
\temail = hostile@example.com
[commit]
\tgpgSign = true
\tverbose = true
[tag]
\tgpgSign = true
\tforceSignAnnotated = true
[gpg]
\tprogram = false
[core]
\tautocrlf = true
\teol = crlf
\thooksPath = {hooks}
\teditor = false
\tpager = false
\tabbrev = 7
[init]
\tdefaultBranch = trunk
\ttemplateDir = {template}
[alias]
\tam = !false
\tstatus = !false
[format]
\tsignature = HOSTILE
\tnumbered = true
\tsignOff = true
\tcoverLetter = true
\tthread = deep
[diff]
\tnoprefix = true
\tmnemonicPrefix = true
\talgorithm = patience
\trenames = copies
\tcontext = 5
[am]
\tthreeWay = false
\tkeepCR = true
\tmessageId = true
[apply]
\twhitespace = fix
[log]
\tshowSignature = true
[advice]
\tdetachedHead = true
"""
    )
    return {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_SYSTEM": str(config),
        "GIT_EDITOR": "false",
        "GIT_AUTHOR_DATE": "2001-01-01T00:00:00+00:00",
        "GIT_COMMITTER_DATE": "2001-01-01T00:00:00+00:00",
    }


def use_hostile_git(tmp: Path, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Run the test as that user, with stray GIT_* variables too (and no
    run lock inherited from the `make` that started pytest)."""
    import runlock

    env = hostile_git_config(tmp / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_DIR", str(tmp / "nowhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp / "nowhere-index"))
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)
    return env


def user_env() -> dict[str, str]:
    """The environment of the tests' own git commands (a sane user)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@example.com",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@example.com",
    )
    return env


def git(tree: Path, *args: str, check: bool = True) -> str:
    """git as the user runs it (not the tooling's runner)."""
    return subprocess.run(
        ["git", "-C", str(tree), *args],
        check=check,
        capture_output=True,
        text=True,
        env=user_env(),
    ).stdout


def make_sdist(path: Path, files: dict[str, str], top: str = "pkg-0.0.1") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def make_pin(sdist: Path, data: bytes) -> Pin:
    """The pin of `sdist`, which is published on the test's package index."""
    from _index import publish

    publish(sdist, data=data)
    return Pin(
        tag=TAG,
        version="0.0.1",
        sdist=Artifact(
            name=sdist.name,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        ),
    )


def write_version_file(root: Path, pin: Pin) -> None:
    s = pin.sdist
    (root / "VERSION").write_text(
        f"VLLM_TAG={pin.tag}\nVLLM_VERSION={pin.version}\nSDIST_NAME={s.name}\n"
        f"SDIST_SHA256={s.sha256}\nSDIST_SIZE={s.size}\n"
    )


def make_layout(root: Path) -> Layout:
    return Layout(root=root, build=root / "build", patches=root / "patches")


def commit(tree: Path, path: str, text: str, subject: str) -> None:
    (tree / path).parent.mkdir(parents=True, exist_ok=True)
    (tree / path).write_text(text)
    git(tree, "add", path)
    msg = f"{subject}\n\nWhy this change.\n\n{GOOD_TRAILERS}\n"
    git(tree, "commit", "-q", "-m", msg)
