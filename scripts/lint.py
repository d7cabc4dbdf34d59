# SPDX-License-Identifier: Apache-2.0
"""`make check`: the series' numbering, messages, clean apply, tag's ruff.

Messages are checked in the pin's style (VERSION's PATCH_STYLE): "backport"
(the main series: `Upstream:` a vLLM PR or `none (reason)`, a backport with
`Backport-notes:`) or "upstream" (ports sent as they are: no `Upstream:` or
`Backport-notes:`, the upstream PR they follow named as `#NNNNN`).
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import tempfile
from pathlib import Path

from errors import SeriesError
from gitrun import git, git_run, last_line, run
from patchfile import patch_files, subject_of, touched_files

REQUIRED_TRAILERS = {
    "backport": ("Upstream", "Signed-off-by"),
    "upstream": ("Signed-off-by",),
}
NOT_UPSTREAM_TRAILERS = ("Upstream", "Backport-notes")
TRAILER_RE = re.compile(r"^([A-Za-z][A-Za-z-]*): (.+)$")
UPSTREAM_RE = re.compile(
    r"^(https://github\.com/vllm-project/vllm/pull/\d+|none \(.+\))$"
)


def check_message(patch: Path, style: str = "backport") -> list[str]:
    """Problems with the commit message of `patch` (empty if none)."""
    msg = email.message_from_bytes(patch.read_bytes(), policy=email.policy.default)
    problems: list[str] = []
    if not subject_of(patch):
        problems.append("no subject")
    payload = msg.get_payload(decode=True)
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    message = re.split(r"^---$", text, maxsplit=1, flags=re.M)[0].strip()
    if not re.search(r"^diff --git ", text, flags=re.M):
        problems.append("no diff")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", message) if p.strip()]
    trailers: dict[str, str] = {}
    if paragraphs:
        for line in paragraphs[-1].splitlines():
            m = TRAILER_RE.match(line)
            if m:
                trailers.setdefault(m.group(1), m.group(2))
    body = paragraphs[:-1] if trailers else paragraphs
    if not body:
        problems.append("no body (what and why)")
    for name in REQUIRED_TRAILERS[style]:
        if name not in trailers:
            problems.append(f"no {name}: trailer")
    if style == "upstream":
        for name in NOT_UPSTREAM_TRAILERS:
            if name in trailers:
                problems.append(f"a port for upstream has no {name}: trailer")
        if not re.search(r"#\d+\b", message):
            problems.append("names no upstream PR (#NNNNN) it fixes or follows")
        return problems
    upstream = trailers.get("Upstream")
    if upstream is not None:
        if not UPSTREAM_RE.match(upstream):
            problems.append(
                f"Upstream: must be a vLLM PR URL or 'none (reason)', not {upstream!r}"
            )
        elif upstream.startswith("https://") and "Backport-notes" not in trailers:
            problems.append("a backport needs a Backport-notes: trailer")
    return problems


def numbering_problems(patches: list[Path]) -> list[str]:
    return [
        f"{patch.name}: expected the number {i:04d}"
        for i, patch in enumerate(patches, 1)
        if not re.match(rf"^{i:04d}-[\w.-]+\.patch$", patch.name)
    ]


def ruff_problems(ruff: str, work: Path, files: list[str]) -> list[str]:
    """`ruff check` and `ruff format --check` of `files` in `work`."""
    if not files:
        return []
    ruff_exe = shutil.which(ruff)
    if ruff_exe is None:
        raise SeriesError(f"{ruff} not found: run `make build` first")
    problems = []
    for args in (["check"], ["format", "--check"]):
        proc = run(
            [str(Path(ruff_exe).resolve()), *args, *files],
            cwd=work,
            what="ruff",
            check=False,
        )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()
            problems.append(f"ruff {' '.join(args)}:\n{out}")
    return problems


def check(
    tree: Path, tag: str, patches_dir: Path, ruff: str | None, style: str = "backport"
) -> str:
    """Lint the series; `ruff=None` skips the ruff step (tests only)."""
    patches = patch_files(patches_dir)
    problems = numbering_problems(patches)
    for patch in patches:
        problems += [f"{patch.name}: {p}" for p in check_message(patch, style)]
    if not (tree / ".git").exists():
        raise SeriesError(f"{tree} does not exist: run `make apply` first")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d) / "vllm"
        git(None, "clone", "-q", "--shared", "--no-checkout", str(tree), str(work))
        git(work, "checkout", "-q", tag)
        for patch in patches:
            # Plain `git apply`: exact context, no fuzz, no 3-way merge.
            proc = git_run(
                work,
                *("apply", "--index", "--whitespace=error-all"),
                str(patch.resolve()),
                check=False,
            )
            if proc.returncode != 0:
                problems.append(
                    f"{patch.name}: does not apply cleanly in order: {last_line(proc)}"
                )
                break
        else:
            py = [
                f
                for f in touched_files(patches)
                if f.endswith(".py") and (work / f).is_file()
            ]
            if ruff is not None:
                problems += ruff_problems(ruff, work, py)
    if problems:
        raise SeriesError(f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return f"{len(patches)} patch(es) OK: messages, clean apply, ruff"
