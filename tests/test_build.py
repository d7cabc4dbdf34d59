# SPDX-License-Identifier: Apache-2.0
"""Tests of scripts/build.py's pure parts: stamps, requirements, the probe."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from _tooling import ROOT

import build
from errors import SeriesError
from pin import Layout


def test_stamped_runs_once_per_key(tmp_path: Path) -> None:
    stamp = tmp_path / ".stamp"
    runs: list[str] = []
    assert build.stamped(stamp, "k1", lambda: runs.append("a")) is True
    assert stamp.read_text() == "k1"
    assert build.stamped(stamp, "k1", lambda: runs.append("b")) is False
    assert build.stamped(stamp, "k2", lambda: runs.append("c")) is True
    assert runs == ["a", "c"] and stamp.read_text() == "k2"


def test_stamped_writes_nothing_when_the_step_fails(tmp_path: Path) -> None:
    stamp = tmp_path / ".stamp"
    stamp.write_text("old")

    def fail() -> None:
        raise SeriesError("pip failed")

    with pytest.raises(SeriesError):
        build.stamped(stamp, "new", fail)
    assert not stamp.exists()  # the old stamp no longer vouches for anything
    runs: list[int] = []
    build.stamped(stamp, "old", lambda: runs.append(1))
    assert runs == [1]


def test_inputs_key() -> None:
    k = build.inputs_key(b"ab", "c")
    assert k == build.inputs_key(b"ab", b"c") and len(k) == 64
    assert k != build.inputs_key(b"a", b"bc")  # boundaries matter
    assert k != build.inputs_key(b"ab", b"d")
    assert k != build.inputs_key(b"ab")


def test_requirement_name() -> None:
    assert (
        build.requirement_name("Torch==2.10.0+cpu; platform_machine == 'x'") == "torch"
    )
    assert build.requirement_name("numpy") == "numpy"
    assert build.requirement_name("ray[cgraph]>=2.48.0") == "ray"
    assert build.requirement_name("regex (>=2)") == "regex"
    assert (
        build.requirement_name("a~=1") == "a" and build.requirement_name("b!=2") == "b"
    )
    assert build.requirement_name("c<3") == "c"


def wheel_with(tmp_path: Path, requires: list[str]) -> Path:
    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("x-1.0.dist-info/RECORD", "")
        zf.writestr(
            "x-1.0.dist-info/METADATA",
            "\n".join(["Name: x", *(f"Requires-Dist: {r}" for r in requires)]),
        )
        for name in build.KERNELS:
            zf.writestr(name, name * 3)
    return wheel


def test_runtime_requirements_drop_torch_and_extras(tmp_path: Path) -> None:
    wheel = wheel_with(
        tmp_path,
        [
            "numpy",
            "torch==2.10.0+cpu; platform_machine == 'x86_64'",
            "torchvision",
            "torchaudio==2.10.0",
            "intel-openmp==2024.2.1",
            "pandas; extra == 'bench'",
            "regex>=2",
        ],
    )
    assert build.runtime_requirements(wheel) == ["numpy", "regex>=2"]


def test_requirement_lines(tmp_path: Path) -> None:
    layout = Layout(root=tmp_path, build=tmp_path / "b", patches=tmp_path / "p")
    wheel = wheel_with(tmp_path, ["numpy"])
    cpu = build.requirement_lines("cpu", layout, wheel)
    assert cpu[:3] == list(build.TORCH_PINS)
    assert f"-r {layout.test_requirements}" in cpu
    assert f"-r {layout.tree / 'requirements' / 'build.txt'}" in cpu
    assert cpu[-1] == "numpy"
    cuda = build.requirement_lines("cuda", layout, wheel)
    assert cuda[-1] == f"-r {layout.tree / 'requirements' / 'cuda.txt'}"
    assert "numpy" not in cuda


def test_copy_kernels(tmp_path: Path) -> None:
    wheel = wheel_with(tmp_path, [])
    tree = tmp_path / "tree"
    (tree / "vllm").mkdir(parents=True)
    assert build.copy_kernels(wheel, tree) == list(build.KERNELS)
    assert (tree / build.KERNELS[0]).read_text() == build.KERNELS[0] * 3
    assert build.copy_kernels(wheel, tree) == []
    (tree / build.KERNELS[1]).write_text("stale")
    assert build.copy_kernels(wheel, tree) == [build.KERNELS[1]]


def test_check_probe(tmp_path: Path) -> None:
    tree = tmp_path / "vllm"
    tree.mkdir()
    good = f"vllm 0.19.1+cpu from {tree}/vllm/__init__.py, CpuPlatform, kernels OK\n"
    assert build.check_probe(0, good, "", tree) == good.strip()
    other = tmp_path / "vllm2"
    bad = f"vllm 0.19.1 from {other}/vllm/__init__.py, CpuPlatform, kernels OK"
    with pytest.raises(SeriesError, match="imports vLLM from elsewhere"):
        build.check_probe(0, bad, "", tree)
    with pytest.raises(SeriesError, match="does not load: ImportError: no _C"):
        build.check_probe(1, "", "Traceback\nImportError: no _C\n", tree)
    with pytest.raises(SeriesError, match=r"does not load: \?"):
        build.check_probe(1, "", "", tree)


def test_detect_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert build.detect_device({"DEVICE": "cpu"}) == "cpu"
    assert build.detect_device({"DEVICE": "cuda"}) == "cuda"
    with pytest.raises(SeriesError, match="DEVICE must be cpu or cuda, not 'tpu'"):
        build.detect_device({"DEVICE": "tpu"})
    fake = tmp_path / "nvidia-smi"
    monkeypatch.setenv("PATH", str(tmp_path))
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert build.detect_device({}) == "cuda"
    fake.write_text("#!/bin/sh\nexit 9\n")  # driver not loaded
    assert build.detect_device({}) == "cpu"
    fake.unlink()
    assert build.detect_device({}) == "cpu"


def test_build_refuses_without_a_tree(tmp_path: Path) -> None:
    import pin

    layout = Layout(root=tmp_path, build=tmp_path / "b", patches=tmp_path / "p")
    p = pin.Pin.load(ROOT / "VERSION")
    with pytest.raises(SeriesError, match="does not exist: run `make apply` first"):
        build.build(layout, p, "cpu")
    assert not layout.venv.exists()


def test_lock_pinned() -> None:
    import lock

    out = "b==2\n-e git+x#egg=y\nvllm==0.19.1+cpu\nA==1\n\n"
    assert lock.pinned(out) == ["A==1", "b==2"]
    with pytest.raises(SeriesError, match=r"cannot be pinned: \['c @ file:///x'\]"):
        lock.pinned("a==1\nc @ file:///x\n")
