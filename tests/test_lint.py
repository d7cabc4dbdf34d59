# SPDX-License-Identifier: Apache-2.0
"""Tests of each rule of `make check` (scripts/lint.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from _tooling import SOURCE, commit, make_layout, make_pin, make_sdist

import lint
import series
import sync
from errors import SeriesError
from patchfile import patch_files
from pin import Layout, Pin

HEADER = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
DIFF = """\
---
 a.py | 1 +
 1 file changed, 1 insertion(+)

diff --git a/a.py b/a.py
index 000000000000..111111111111 100644
--- a/a.py
+++ b/a.py
@@ -1 +1,2 @@
 x = 1
+y = 2
"""


def patch(
    tmp_path: Path,
    body: str,
    subject: str = "[Model] Do a thing",
    diff: str = DIFF,
) -> Path:
    p = tmp_path / "0001-x.patch"
    p.write_text(
        f"{HEADER}From: Dev <dev@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
        f"Subject: [PATCH] {subject}\n\n{body}\n{diff}--\n2.39.5\n\n"
    )
    return p


BACKPORT = (
    "Why it is needed.\n\n"
    "Upstream: https://github.com/vllm-project/vllm/pull/123\n"
    "Backport-notes: none\n"
    "Signed-off-by: Dev <dev@example.com>\n"
)
FOLLOW_UP = (
    "Why it is needed.\n\n"
    "Upstream: none (fixes a review finding on #123)\n"
    "Signed-off-by: Dev <dev@example.com>\n"
)


def test_good_messages(tmp_path: Path) -> None:
    assert lint.check_message(patch(tmp_path, BACKPORT)) == []
    assert lint.check_message(patch(tmp_path, FOLLOW_UP)) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("Backport-notes: none\n", "", "a backport needs a Backport-notes: trailer"),
        ("Signed-off-by: Dev <dev@example.com>\n", "", "no Signed-off-by: trailer"),
        (
            "Upstream: https://github.com/vllm-project/vllm/pull/123\n",
            "",
            "no Upstream: trailer",
        ),
        ("Why it is needed.\n\n", "", "no body (what and why)"),
        ("/pull/123", "/pull/soon", "Upstream: must be a vLLM PR URL"),
        ("https://github.com/vllm-project/vllm/pull/123", "later", "Upstream: must"),
        (
            "https://github.com/vllm-project/vllm/pull/123",
            "https://example.com/x/pull/1",
            "Upstream: must",
        ),
        (
            "https://github.com/vllm-project/vllm/pull/123",
            "none",
            "Upstream: must be a vLLM PR URL or 'none (reason)', not 'none'",
        ),
    ],
)
def test_each_message_rule(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in BACKPORT
    problems = lint.check_message(patch(tmp_path, BACKPORT.replace(old, new)))
    assert any(p.startswith(problem) for p in problems), problems
    assert len(problems) == 1, problems


PORT = "Why it is needed.\n\nFixes: #123 review\nSigned-off-by: Dev <dev@example.com>\n"


def test_upstream_style(tmp_path: Path) -> None:
    """Ports sent upstream as they are: no Upstream:/Backport-notes:, a PR named."""
    assert lint.check_message(patch(tmp_path, PORT), "upstream") == []
    follow_up = "Follow-up to #123 (not raised in its review).\n\n"
    follow_up += "Signed-off-by: Dev <dev@example.com>\n"
    assert lint.check_message(patch(tmp_path, follow_up), "upstream") == []
    # the main series' messages are not ports, and the other way round
    assert lint.check_message(patch(tmp_path, BACKPORT), "upstream") == [
        "a port for upstream has no Upstream: trailer",
        "a port for upstream has no Backport-notes: trailer",
        "names no upstream PR (#NNNNN) it fixes or follows",  # a URL is not "#123"
    ]
    assert lint.check_message(patch(tmp_path, PORT)) == ["no Upstream: trailer"]
    assert lint.check_message(
        patch(tmp_path, PORT.replace("#123", "the review")), "upstream"
    ) == ["names no upstream PR (#NNNNN) it fixes or follows"]
    assert lint.check_message(
        patch(tmp_path, PORT.replace("Signed-off-by", "Signed")), "upstream"
    ) == ["no Signed-off-by: trailer"]
    only_trailers = "Fixes: #1\nSigned-off-by: Dev <dev@example.com>\n"
    assert lint.check_message(patch(tmp_path, only_trailers), "upstream") == [
        "no body (what and why)"
    ]


def test_a_patch_with_no_diff(tmp_path: Path) -> None:
    p = patch(tmp_path, BACKPORT, diff="---\n")
    assert lint.check_message(p) == ["no diff"]
    p = patch(tmp_path, BACKPORT + "\nsee diff --git in the text\n", diff="---\n")
    assert "no diff" in lint.check_message(p)


def test_no_subject(tmp_path: Path) -> None:
    assert "no subject" in lint.check_message(patch(tmp_path, FOLLOW_UP, subject=""))


def test_numbering(tmp_path: Path) -> None:
    names = ["0001-a.patch", "0002-b.c.patch", "0004-d.patch", "5-e.patch"]
    problems = lint.numbering_problems([tmp_path / n for n in names])
    assert problems == [
        "0004-d.patch: expected the number 0003",
        "5-e.patch: expected the number 0004",
    ]
    assert lint.numbering_problems([tmp_path / "0001-x y.patch"]) == [
        "0001-x y.patch: expected the number 0001"
    ]


@pytest.fixture
def series_env(tmp_path: Path) -> tuple[Layout, Pin]:
    sdist = tmp_path / "up" / "pkg-0.0.1.tar.gz"
    p = make_pin(sdist, make_sdist(sdist, SOURCE))
    layout = make_layout(tmp_path)
    series.apply(layout, p)
    commit(layout.tree, "pkg/other.py", "x = 2\n", "[Model] One")
    commit(layout.tree, "pkg/new.py", "import os\n", "[Model] Two")
    commit(layout.tree, "README.md", "changed\n", "[Doc] Three")
    sync.export(layout.tree, p.tag, layout.patches)
    return layout, p


def fake_ruff(tmp_path: Path, code: int) -> tuple[str, Path]:
    log = tmp_path / "ruff.log"
    exe = tmp_path / "fake-ruff"
    exe.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        f"open({str(log)!r}, 'a').write(os.getcwd() + ' ' + ' '.join(sys.argv[1:]) + '\\n')\n"
        f"print('E999 boom in ' + sys.argv[-1])\nsys.exit({code})\n"
    )
    exe.chmod(0o755)
    return str(exe), log


def test_check_runs_ruff_on_the_series_python_files(
    series_env: tuple[Layout, Pin], tmp_path: Path
) -> None:
    layout, p = series_env
    ruff, log = fake_ruff(tmp_path, 0)
    assert lint.check(layout.tree, p.tag, layout.patches, ruff).startswith(
        "3 patch(es) OK"
    )
    calls = log.read_text().splitlines()
    assert [c.split(" ", 1)[1] for c in calls] == [
        "check pkg/other.py pkg/new.py",
        "format --check pkg/other.py pkg/new.py",
    ]
    cwd = calls[0].split(" ", 1)[0]
    assert cwd != str(layout.tree) and not os.path.exists(cwd)  # a scratch clone


def test_check_lints_the_messages_in_the_pins_style(
    series_env: tuple[Layout, Pin],
) -> None:
    """The main series' messages are backports: as ports (another pin's
    style) each would need its Upstream:/Backport-notes: trailers gone."""
    layout, p = series_env
    assert lint.check(layout.tree, p.tag, layout.patches, None).startswith("3 patch")
    with pytest.raises(SeriesError) as e:
        lint.check(layout.tree, p.tag, layout.patches, None, style="upstream")
    problems = str(e.value).splitlines()[1:]
    assert problems and all(": a port for upstream has no" in x for x in problems[:2])


def test_check_reports_ruff_failures(
    series_env: tuple[Layout, Pin], tmp_path: Path
) -> None:
    layout, p = series_env
    ruff, _ = fake_ruff(tmp_path, 1)
    with pytest.raises(SeriesError) as e:
        lint.check(layout.tree, p.tag, layout.patches, ruff)
    msg = str(e.value)
    assert msg.startswith("2 problem(s):")
    assert "ruff check:\nE999 boom in pkg/new.py" in msg
    assert "ruff format --check:\nE999 boom" in msg
    with pytest.raises(SeriesError, match="no-such-ruff not found: run `make build`"):
        lint.check(layout.tree, p.tag, layout.patches, "no-such-ruff")


def test_check_catches_fuzzy_patch_and_bad_numbering(
    series_env: tuple[Layout, Pin],
) -> None:
    layout, p = series_env
    patches = patch_files(layout.patches)
    fuzzy = patches[0].read_text().replace("-x = 1\n", "-x = 0\n")
    patches[0].write_text(fuzzy)
    patches[2].rename(layout.patches / "0007-Doc-Three.patch")
    with pytest.raises(SeriesError) as e:
        lint.check(layout.tree, p.tag, layout.patches, None)
    lines = str(e.value).splitlines()
    assert lines[0] == "2 problem(s):"
    assert lines[1].strip() == "0007-Doc-Three.patch: expected the number 0003"
    assert (
        lines[2]
        .strip()
        .startswith(
            "0001-Model-One.patch: does not apply cleanly in order: error: patch failed"
        )
    )


def test_check_catches_whitespace_errors(series_env: tuple[Layout, Pin]) -> None:
    layout, p = series_env
    patches = patch_files(layout.patches)
    patches[0].write_text(patches[0].read_text().replace("+x = 2\n", "+x = 2   \n"))
    with pytest.raises(
        SeriesError, match="0001-Model-One.patch: does not apply cleanly"
    ):
        lint.check(layout.tree, p.tag, layout.patches, None)


def test_check_needs_the_tree(tmp_path: Path) -> None:
    with pytest.raises(SeriesError, match="does not exist: run `make apply` first"):
        lint.check(tmp_path / "vllm", "v1", tmp_path, None)


def test_a_message_without_trailers_still_has_its_body(tmp_path: Path) -> None:
    problems = lint.check_message(patch(tmp_path, "Just the why, no trailers.\n"))
    assert problems == ["no Upstream: trailer", "no Signed-off-by: trailer"]


def test_a_patch_that_is_not_utf8(tmp_path: Path) -> None:
    p = patch(tmp_path, FOLLOW_UP)
    p.write_bytes(p.read_bytes().replace(b"+y = 2", b"+y = '\xff'"))
    assert lint.check_message(p) == []


def test_ruff_and_other_problems_are_all_reported(
    series_env: tuple[Layout, Pin], tmp_path: Path
) -> None:
    layout, p = series_env
    patches = patch_files(layout.patches)
    patches[2].rename(layout.patches / "0009-Doc-Three.patch")
    ruff, _ = fake_ruff(tmp_path, 1)
    with pytest.raises(SeriesError) as e:
        lint.check(layout.tree, p.tag, layout.patches, ruff)
    msg = str(e.value)
    assert msg.startswith(
        "3 problem(s):\n  0009-Doc-Three.patch: expected the number 0003"
    )
    assert "ruff check:" in msg and "ruff format --check:" in msg


def test_touched_files_of_a_patch_that_is_not_utf8(tmp_path: Path) -> None:
    from patchfile import touched_files

    p = patch(tmp_path, FOLLOW_UP)
    p.write_bytes(p.read_bytes().replace(b"+y = 2", b"+y = '\xff'"))
    assert touched_files([p, p]) == ["a.py"]
