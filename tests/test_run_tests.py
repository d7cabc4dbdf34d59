# SPDX-License-Identifier: Apache-2.0
"""Tests of scripts/run_tests.py's summary and of the real VERSION pin."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import build  # noqa: E402
import run_tests  # noqa: E402
import series  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_junit_counts(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" errors="1" failures="2" '
        'skipped="3" tests="10"/></testsuites>'
    )
    c = run_tests.junit_counts(xml)
    assert (c.passed, c.failed, c.skipped) == (4, 3, 3)


def test_version_pins_every_artifact() -> None:
    kv = series.read_kv(ROOT / "VERSION")
    assert kv["VLLM_TAG"] == "v0.19.1"
    for prefix in ("SDIST", "CPU_WHEEL", "CUDA_WHEEL"):
        assert len(kv[f"{prefix}_SHA256"]) == 64
        assert kv[f"{prefix}_URL"].endswith(kv[f"{prefix}_NAME"])
        assert int(kv[f"{prefix}_SIZE"]) > 0
    pin = series.Pin.load(ROOT / "VERSION")
    assert pin.sdist_name == "vllm-0.19.1.tar.gz"


def test_runtime_requirements_drop_torch(tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(
            "x-1.0.dist-info/METADATA",
            "\n".join(
                [
                    "Name: x",
                    "Requires-Dist: numpy",
                    "Requires-Dist: torch==2.10.0+cpu; platform_machine == 'x86_64'",
                    "Requires-Dist: torchvision",
                    "Requires-Dist: intel-openmp==2024.2.1",
                    "Requires-Dist: pandas; extra == 'bench'",
                    "Requires-Dist: regex>=2",
                ]
            ),
        )
    assert build.runtime_requirements(wheel) == ["numpy", "regex>=2"]


def test_constraints_pin_what_the_issue_requires() -> None:
    lines = (ROOT / "scripts" / "constraints.txt").read_text().splitlines()
    pins = dict(
        line.split("==", 1)
        for line in lines
        if "==" in line and not line.startswith("#")
    )
    assert pins["torch"] == "2.10.0"
    assert pins["torchvision"] == "0.25.0"
    major, minor = map(int, pins["transformers"].split(".")[:2])
    assert (major, minor) >= (5, 10)


def test_readme_shows_current_make_help() -> None:
    import subprocess

    help_text = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## `make help`\n\n```\n", 1)[1].split("```", 1)[0]
    assert block == help_text


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "make apply && make test"
    assert f"\n    {command}\n" in readme
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci
