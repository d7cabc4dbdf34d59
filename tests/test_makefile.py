# SPDX-License-Identifier: Apache-2.0
"""The Makefile's targets do what they say (run with a fake python that
prints what it was given, in a copy of the Makefile without build/)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _tooling import ROOT

OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in ("Makefile", "VERSION"):
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / "fakepy"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "ARGS $*"\n'
        + "".join(f'echo "{v}=${{{v}-unset}}"\n' for v in OFFLINE)
        + 'echo "PYTEST_ARGS=${PYTEST_ARGS-unset}"\n'
    )
    fake.chmod(0o755)
    return tmp_path


def make(checkout: Path, *args: str, **env: str) -> str:
    e = {k: v for k, v in os.environ.items() if k not in OFFLINE}
    e.update(env)
    proc = subprocess.run(
        ["make", "-s", "-C", str(checkout), f"PYTHON={checkout / 'fakepy'}", *args],
        capture_output=True,
        text=True,
        env=e,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_eval_gpu_may_reach_the_hub(checkout: Path) -> None:
    out = make(checkout, "eval-gpu", "MODEL=m")
    assert "ARGS scripts/eval_gpu.py m" in out
    for v in OFFLINE:
        assert f"{v}=\n" in out  # set empty: eval_gpu.py reads it as unset
    out = make(checkout, "eval-gpu", HF_HUB_OFFLINE="1")
    assert "HF_HUB_OFFLINE=1\n" in out  # the caller's own choice is kept


def test_other_targets_are_offline(checkout: Path) -> None:
    out = make(checkout, "fetch", HF_HUB_OFFLINE="0")
    assert "ARGS scripts/series.py fetch" in out
    for v in OFFLINE:
        assert f"{v}=1\n" in out


@pytest.mark.parametrize("part", ["tooling", "vllm", "e2e"])
def test_test_targets_go_through_run_tests(checkout: Path, part: str) -> None:
    out = make(checkout, "-o", "build", f"test-{part}", "PYTEST_ARGS=-k 'a or b' -x")
    assert f"ARGS scripts/run_tests.py {part}\n" in out
    assert "PYTEST_ARGS=-k 'a or b' -x\n" in out


def test_build_and_clean_go_through_the_series_cli(checkout: Path) -> None:
    out = make(checkout, "build")
    assert out.index("ARGS scripts/series.py ensure") < out.index(
        "ARGS scripts/build.py"
    )
    assert "ARGS scripts/series.py clean" in make(checkout, "clean")
    out = make(checkout, "-o", "build", "test")
    assert "ARGS scripts/run_tests.py\n" in out


def test_wheel_targets(checkout: Path) -> None:
    out = make(checkout, "wheel")
    assert out.index("ARGS scripts/series.py ensure") < out.index(
        "ARGS scripts/wheel.py\n"
    )
    out = make(checkout, "-o", "build", "-o", "wheel", "test-wheel")
    assert "ARGS scripts/run_tests.py wheel\n" in out
    out = make(checkout, "-o", "build", "test")  # make test builds the wheels first
    assert out.index("ARGS scripts/wheel.py\n") < out.index(
        "ARGS scripts/run_tests.py\n"
    )


def test_matrix_goes_through_its_script_without_a_build(checkout: Path) -> None:
    out = make(checkout, "matrix")
    assert out.splitlines()[0] == "ARGS scripts/matrix.py"
    assert "build.py" not in out
