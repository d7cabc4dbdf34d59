# SPDX-License-Identifier: Apache-2.0
"""Tests of scripts/build.py's pure parts: stamps, requirements, the probe."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest
from _index import publish
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


# the compiled modules of a vLLM wheel (directly in vllm/), and files that are not
KERNELS = ("vllm/_C.abi3.so", "vllm/_C_AVX2.abi3.so", "vllm/spinloop.abi3.so")
NOT_KERNELS = ("vllm/sub/_x.abi3.so", "vllm/so.py", "other/_y.abi3.so")


def wheel_with(tmp_path: Path, requires: list[str]) -> Path:
    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("x-1.0.dist-info/RECORD", "")
        zf.writestr(
            "x-1.0.dist-info/METADATA",
            "\n".join(["Name: x", *(f"Requires-Dist: {r}" for r in requires)]),
        )
        for name in KERNELS + NOT_KERNELS:
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
    from pin import Artifact, Pin

    layout = Layout(root=tmp_path, build=tmp_path / "b", patches=tmp_path / "p")
    (layout.tree / "requirements").mkdir(parents=True)
    (layout.tree / "requirements" / "build.txt").write_text(
        "# build\ncmake>=3  # comment\ntorch==2.10.0\n\nwheel\n"
    )
    wheel = wheel_with(tmp_path, ["numpy"])
    sdist = Artifact("s.tar.gz", "0" * 64, 1)
    p = Pin("v1", "1", sdist, torch=("torch==9.1", "torchvision==9.2"))
    cpu = build.requirement_lines("cpu", layout, p, wheel)
    # the pin's torch, the test requirements, the build requirements without
    # their torch, the wheel's runtime requirements
    assert cpu == [
        "torch==9.1",
        "torchvision==9.2",
        f"-r {layout.test_requirements}",
        "cmake>=3",
        "wheel",
        "numpy",
    ]
    cuda = build.requirement_lines("cuda", layout, p, wheel)
    assert cuda[-1] == f"-r {layout.tree / 'requirements' / 'cuda.txt'}"
    assert "numpy" not in cuda
    with pytest.raises(SeriesError, match="no TORCH="):
        build.requirement_lines("cpu", layout, Pin("v1", "1", sdist), wheel)


def test_build_requirements_of_a_release_that_splits_them(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements"
    (reqs / "build").mkdir(parents=True)
    (reqs / "build" / "cpu.txt").write_text(
        "setuptools==78.1.1\ntorch==2.13.0+cpu; platform_machine == 'x86_64'\n"
    )
    (reqs / "build" / "cuda.txt").write_text("ninja\n")
    assert build.build_requirements(tmp_path, "cpu") == ["setuptools==78.1.1"]
    assert build.build_requirements(tmp_path, "cuda") == ["ninja"]
    with pytest.raises(SeriesError, match="no requirements/build.txt or"):
        build.build_requirements(tmp_path, "rocm")


def test_copy_kernels(tmp_path: Path) -> None:
    wheel = wheel_with(tmp_path, [])
    tree = tmp_path / "tree"
    (tree / "vllm").mkdir(parents=True)
    assert build.copy_kernels(wheel, tree) == list(KERNELS)
    assert (tree / KERNELS[0]).read_text() == KERNELS[0] * 3
    assert not (tree / "vllm" / "sub").exists() and not (tree / "other").exists()
    assert build.copy_kernels(wheel, tree) == []
    (tree / KERNELS[1]).write_text("stale")
    assert build.copy_kernels(wheel, tree) == [KERNELS[1]]
    empty = tmp_path / "e" / "x-1.0-py3-none-any.whl"
    empty.parent.mkdir()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("vllm/__init__.py", "")
    with pytest.raises(SeriesError, match="has no compiled module in vllm/"):
        build.copy_kernels(empty, tree)


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
    fake.write_text("#!/bin/sh\necho GPU 0: H100\nexit 0\n")
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
    assert lock.pinned(out + "pip==23\n") == [("A", "1"), ("b", "2")]
    with pytest.raises(SeriesError, match=r"cannot be pinned: \['c @ file:///x'\]"):
        lock.pinned("a==1\nc @ file:///x\n")


FAKE_PY = """#!/bin/sh
args=$(printf '%s' "$*" | tr '\\n' ' ')
echo "$args | VLLM_TARGET_DEVICE=$VLLM_TARGET_DEVICE VLLM_VERSION_OVERRIDE=$VLLM_VERSION_OVERRIDE \
VLLM_USE_PRECOMPILED=$VLLM_USE_PRECOMPILED VLLM_PRECOMPILED_WHEEL_LOCATION=$VLLM_PRECOMPILED_WHEEL_LOCATION" >> {log}
case "$1" in
  -c) echo "$PWD" > {log}.cwd; echo "vllm 0.0.1+cpu from {tree}/vllm/__init__.py, CpuPlatform, kernels OK"; exit {probe_rc} ;;
esac
exit {pip_rc}
"""


def fake_build(tmp_path: Path, pip_rc: int = 0, probe_rc: int = 0, pin_name: str = ""):  # type: ignore[no-untyped-def]
    """A layout with a tree, a fake venv python that logs, a local wheel pin
    (of the main series, or of the pin in directory `pin_name`)."""
    import hashlib
    import subprocess

    import pin as pin_module

    if pin_name:
        (tmp_path / pin_name).mkdir()
        (tmp_path / pin_name / "VERSION").write_text("")
    layout = Layout.for_pin(tmp_path, tmp_path / "build", pin_name)
    (layout.tree / "vllm").mkdir(parents=True)
    (layout.tree / "requirements").mkdir()
    (layout.tree / "requirements" / "build.txt").write_text("setuptools\n")
    subprocess.run(["git", "init", "-q", str(layout.tree)], check=True)
    (layout.tree / "f").write_text("x\n")
    import gitrun

    gitrun.git(layout.tree, "add", "f")
    gitrun.git(layout.tree, "commit", "-q", "-m", "root")
    layout.constraints.parent.mkdir(exist_ok=True)
    layout.constraints.write_text("numpy==1 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    layout.test_requirements.write_text("pytest\n")
    log = tmp_path / "calls.log"
    layout.python.parent.mkdir(parents=True)
    layout.python.write_text(
        FAKE_PY.format(log=log, tree=layout.tree, pip_rc=pip_rc, probe_rc=probe_rc)
    )
    layout.python.chmod(0o755)
    wheel = wheel_with(tmp_path, ["numpy", "torch==2.10.0"])
    data = wheel.read_bytes()
    publish(wheel)
    art = pin_module.Artifact(wheel.name, hashlib.sha256(data).hexdigest(), len(data))
    sdist = pin_module.Artifact("s-0.0.1.tar.gz", "0" * 64, 1)
    p = pin_module.Pin(
        "v0.0.1", "0.0.1", sdist, cpu_wheel=art, cuda_wheel=art, torch=("torch==2",)
    )
    return layout, p, log


def test_build_cpu_installs_once_with_the_kernels(tmp_path: Path) -> None:
    layout, p, log = fake_build(tmp_path)
    line = build.build(layout, p, "cpu")
    assert (
        line
        == f"vllm 0.0.1+cpu from {layout.tree}/vllm/__init__.py, CpuPlatform, kernels OK"
    )
    calls = log.read_text().splitlines()
    assert len(calls) == 4, calls
    reqs = layout.build / "requirements-cpu.txt"
    # the lock itself, in hash-checking mode
    assert calls[0].startswith(
        f"-m pip install -q --require-hashes --no-deps -r {layout.constraints} | "
        "VLLM_TARGET_DEVICE= "
    )
    # then the requirements must be met with no package source at all
    assert calls[1].startswith(f"-m pip install -q --dry-run --no-index -r {reqs} |")
    assert reqs.read_text().splitlines()[-1] == "numpy"
    assert calls[2].startswith(
        f"-m pip install -q -e {layout.tree} --no-deps --no-build-isolation"
    )
    assert (
        "VLLM_TARGET_DEVICE=empty VLLM_VERSION_OVERRIDE=0.0.1+cpu VLLM_USE_PRECOMPILED= "
        in calls[2]
    )
    assert calls[3].startswith("-c import torch, vllm")
    for name in KERNELS:
        assert (layout.tree / name).read_text() == name * 3
    assert (layout.downloads / p.cpu_wheel.name).is_file()  # type: ignore[union-attr]
    # Second build: nothing to install, only the probe.
    build.build(layout, p, "cpu")
    calls2 = log.read_text().splitlines()[4:]
    assert len(calls2) == 1 and calls2[0].startswith("-c import torch")
    # A changed lock re-installs the dependencies only.
    layout.constraints.write_text("numpy==2 --hash=sha256:" + "a" * 64 + "\n")
    build.build(layout, p, "cpu")
    calls3 = log.read_text().splitlines()[5:]
    assert len(calls3) == 3
    assert calls3[0].startswith(
        f"-m pip install -q --require-hashes --no-deps -r {layout.constraints}"
    )
    assert calls3[2].startswith("-c import torch, vllm")


class PipSteps:
    """The pip steps a fake build logged since the last call, each by its
    first option (-e, --dry-run, --require-hashes, -c, ...)."""

    def __init__(self, log: Path) -> None:
        self.log, self.seen = log, 0

    def __call__(self) -> list[str]:
        calls = self.log.read_text().splitlines()
        new, self.seen = calls[self.seen :], len(calls)
        return [c.split(" ")[4] for c in new if c.startswith("-m pip")]


def test_what_reinstalls_the_dependencies_or_the_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dependency stamp covers the requirements, the test requirements
    and the locks; the tree's stamp its root commit, not each new commit (an
    editable install follows those by itself). A step skipped says so."""
    import gitrun

    layout, p, log = fake_build(tmp_path)
    build.build(layout, p, "cpu")
    pip_steps = PipSteps(log)
    pip_steps()
    capsys.readouterr()
    (layout.tree / "g").write_text("y\n")
    gitrun.git(layout.tree, "add", "g")
    gitrun.git(layout.tree, "commit", "-q", "-m", "a patch")
    build.build(layout, p, "cpu")
    assert pip_steps() == []
    assert capsys.readouterr().out.count("\n    up to date\n") == 2
    layout.test_requirements.write_text("pytest\npytest-timeout\n")
    build.build(layout, p, "cpu")
    assert pip_steps() == ["--require-hashes", "--dry-run"]
    assert capsys.readouterr().out.count("\n    up to date\n") == 1
    # a patch that changes the release's requirements
    (layout.tree / "requirements" / "build.txt").write_text("setuptools\nninja\n")
    build.build(layout, p, "cpu")
    assert pip_steps() == ["--require-hashes", "--dry-run"]
    # cuda without a lock of its own: versions from the CPU lock, which
    # its stamp covers too
    build.build(layout, p, "cuda")
    assert pip_steps() == ["-c", "--dry-run", "-e"]
    layout.constraints.write_text("numpy==3 --hash=sha256:" + "b" * 64 + "\n")
    build.build(layout, p, "cuda")
    assert pip_steps() == ["-c", "--dry-run"]
    assert "numpy==3" in (layout.build / "constraints-versions.txt").read_text()


def test_a_pin_without_a_lock_resolves_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout, p, log = fake_build(tmp_path, pin_name="up")
    layout.constraints.unlink()
    build.build(layout, p, "cpu")
    reqs = layout.build / "requirements-cpu.txt"
    calls = log.read_text().splitlines()
    assert calls[0].startswith(f"-m pip install -q -r {reqs} |")
    assert f"note: no {layout.constraints}: resolving afresh" in capsys.readouterr().out
    (tmp_path / "2").mkdir()
    layout, p, log = fake_build(tmp_path / "2", pip_rc=1, pin_name="up")
    layout.constraints.unlink()
    with pytest.raises(SeriesError, match=r"^installing the dependencies failed"):
        build.build(layout, p, "cpu")
    # with the CPU lock but none for cuda: by version, and its own failure
    layout, p, log = fake_build(tmp_path / "3", pip_rc=1)
    with pytest.raises(SeriesError, match=r"^installing the dependencies failed"):
        build.build(layout, p, "cuda")


def test_the_requirement_check_sees_no_package_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, p, log = fake_build(tmp_path)
    monkeypatch.setenv("PIP_FIND_LINKS", "/somewhere")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///x")
    seen: list[dict[str, str]] = []
    real_sh = build.sh

    def sh(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
        if "--dry-run" in cmd:
            assert env is not None
            seen.append(env)
            assert "run `make lock`" in what
        real_sh(cmd, what, env)

    monkeypatch.setattr(build, "sh", sh)
    build.build(layout, p, "cpu")
    (env,) = seen
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert [k for k in env if k.startswith("PIP_")] == ["PIP_CONFIG_FILE"]


def test_build_cuda_uses_the_precompiled_wheel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout, p, log = fake_build(tmp_path)
    build.build(layout, p, "cuda")
    calls = log.read_text().splitlines()
    # no cuda hash lock: the cpu lock's versions as plain constraints, said so
    versions = layout.build / "constraints-versions.txt"
    reqs_file = layout.build / "requirements-cuda.txt"
    assert calls[0].startswith(f"-m pip install -q -c {versions} -r {reqs_file} |")
    assert versions.read_text() == "numpy==1\n"
    assert (
        "no constraints-cuda.txt: the cuda dependencies are pinned by version only"
        in (capsys.readouterr().out)
    )
    wheel = layout.downloads / p.cuda_wheel.name  # type: ignore[union-attr]
    assert f"VLLM_USE_PRECOMPILED=1 VLLM_PRECOMPILED_WHEEL_LOCATION={wheel}" in calls[2]
    assert "VLLM_TARGET_DEVICE= " in calls[2]
    # with a cuda lock: hash-checked from it
    layout.lock_for("cuda").write_text("x==1 --hash=sha256:" + "b" * 64 + "\n")
    build.build(layout, p, "cuda")
    calls = log.read_text().splitlines()[len(calls) :]
    assert calls[0].startswith(
        f"-m pip install -q --require-hashes --no-deps -r {layout.lock_for('cuda')} |"
    )
    reqs = (layout.build / "requirements-cuda.txt").read_text().splitlines()
    assert reqs[-1] == f"-r {layout.tree / 'requirements' / 'cuda.txt'}"
    assert not (layout.tree / KERNELS[0]).exists()


def test_build_failures(tmp_path: Path) -> None:
    layout, p, log = fake_build(tmp_path, pip_rc=1)
    with pytest.raises(
        SeriesError, match=r"installing the dependencies \(hash-checked\) failed"
    ):
        build.build(layout, p, "cpu")
    assert not (layout.venv / ".deps-stamp").exists()
    layout, p, log = fake_build(tmp_path / "2", probe_rc=1)
    with pytest.raises(SeriesError, match="does not load"):
        build.build(layout, p, "cpu")
    layout, p, log = fake_build(tmp_path / "3")
    import dataclasses

    with pytest.raises(SeriesError, match="VERSION pins no cuda wheel"):
        build.build(layout, dataclasses.replace(p, cuda_wheel=None), "cuda")


def test_requirement_name_edge_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build.requirement_name("numpy;python_version<'3.12'") == "numpy"
    assert build.requirement_name("PyX>=1") == "pyx"
    monkeypatch.setenv("DEVICE", "cuda")
    assert build.detect_device() == "cuda"


def test_detect_device_keeps_nvidia_smi_quiet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho GPU 0: H100\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert build.detect_device({}) == "cuda"
    assert capfd.readouterr().out == ""


def test_build_probes_from_the_root_and_stamps(tmp_path: Path) -> None:
    layout, p, log = fake_build(tmp_path)
    build.build(layout, p, "cpu")
    assert Path(f"{log}.cwd").read_text() == f"{layout.root}\n"
    assert (layout.venv / ".deps-stamp").is_file()
    assert (layout.venv / ".vllm-stamp").is_file()


def test_build_reinstalls_the_tree_when_it_changes(tmp_path: Path) -> None:
    import gitrun

    layout, p, log = fake_build(tmp_path)
    build.build(layout, p, "cpu")
    pip_steps = PipSteps(log)
    pip_steps()
    # A new tree (a new root commit): the editable install is redone.
    gitrun.git(layout.tree, "checkout", "-q", "--orphan", "new")
    gitrun.git(layout.tree, "commit", "-q", "-m", "new root")
    build.build(layout, p, "cpu")
    assert pip_steps() == ["-e"]
    # Another device: both the requirements and the install change.
    build.build(layout, p, "cuda")
    assert pip_steps() == ["-c", "--dry-run", "-e"]


def test_build_creates_the_venv_and_prints_its_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import sys

    layout, p, log = fake_build(tmp_path)
    fake = layout.python.read_text()
    shutil.rmtree(layout.venv)
    real_sh = build.sh
    made: list[list[str]] = []

    def sh(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
        if cmd[1:3] == ["-m", "venv"]:
            made.append(cmd)
            assert what == "creating build/venv"
            layout.python.parent.mkdir(parents=True)
            layout.python.write_text(fake)
            layout.python.chmod(0o755)
            return
        real_sh(cmd, what, env)

    monkeypatch.setattr(build, "sh", sh)
    build.build(layout, p, "cpu")
    assert made == [[sys.executable, "-m", "venv", str(layout.venv)]]
    out = capsys.readouterr().out
    assert (
        f"+ {layout.python} -m pip install -q --require-hashes --no-deps -r {layout.constraints}"
        in out
    )
    # every step says what it does, then how long it took
    steps = [line for line in out.splitlines() if line.startswith("==> ")]
    assert steps == [
        "==> create build/venv",
        f"==> get {p.cpu_wheel.name} (0 MB, sha256-checked)",  # type: ignore[union-attr]
        "==> dependencies of cpu from constraints.txt",
        "==> copy the release's CPU kernels into build/vllm",
        "==> install build/vllm (editable, no compile)",
        "==> probe: import vLLM and run a kernel",
    ]
    for step in steps:
        assert re.search(rf"^    {re.escape(step[4:])}: done in \d+\.\d s$", out, re.M)


def test_main_builds_with_the_pin_of_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import runlock

    layout, p, log = fake_build(tmp_path)
    w = p.cpu_wheel
    assert w is not None
    (layout.root / "VERSION").write_text(
        f"VLLM_TAG=v0.0.1\nVLLM_VERSION=0.0.2\nSDIST_NAME=s\n"
        f"SDIST_SHA256=0\nSDIST_SIZE=1\nCPU_WHEEL_NAME={w.name}\n"
        f"CPU_WHEEL_SHA256={w.sha256}\nCPU_WHEEL_SIZE={w.size}\n"
        "TORCH=torch==7 torchvision==8\n"
    )
    monkeypatch.setenv("SERIES_ROOT", str(layout.root))
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)
    try:
        assert build.main([]) == 0
        assert (
            layout.lock_file.read_text()
            == f"pid {__import__('os').getpid()}: build.py\n"
        )
    finally:
        runlock.release(layout.lock_file)
    assert "kernels OK" in capsys.readouterr().out
    assert "VLLM_VERSION_OVERRIDE=0.0.2+cpu" in log.read_text()
    reqs = (layout.build / "requirements-cpu.txt").read_text()
    assert reqs.startswith("torch==7\ntorchvision==8\n")
