# SPDX-License-Identifier: Apache-2.0
"""The wheels `make wheel` wrote into build/dist/ (`make test-wheel`).

- both: the files the series changes (read from patches/) are build/vllm's,
  every other file of the release wheel (its compiled extensions above all)
  is there unchanged, the version names the series;
- CPU: installed into a fresh virtual environment with the locked
  dependencies (nothing of build/vllm on the path), it runs the smoke
  generation of `make smoke` (marker fresh_venv: ~10 min, mostly pip
  installing torch; `make test-wheel` runs it, `make test` does not).

A missing wheel fails (run `make wheel`), it never skips.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from _tooling import ROOT, git

import build
from patchfile import patch_files, touched_files
from pin import Layout, Pin

pytestmark = pytest.mark.wheel

LAYOUT = Layout(root=ROOT, build=ROOT / "build", patches=ROOT / "patches")
PIN = Pin.load(LAYOUT.version_file)
N_PATCHES = len(patch_files(LAYOUT.patches))
DEVICE_TAG = {"cpu": r"cpu", "cuda": r"cu\d{3}"}


def series_wheel(device: str) -> Path:
    pattern = re.compile(
        rf"vllm-{re.escape(PIN.version)}\+mm{N_PATCHES}(\.local)?\.({DEVICE_TAG[device]})-"
        r"cp\d+-abi3-manylinux_\d+_\d+_x86_64\.whl"
    )
    found = [p for p in LAYOUT.dist.glob("*.whl") if pattern.fullmatch(p.name)]
    assert len(found) == 1, (
        f"expected one {device} wheel of the series in {LAYOUT.dist}, found "
        f"{[p.name for p in found]}: run `make wheel`"
    )
    return found[0]


def release_wheel(device: str) -> Path:
    art = PIN.cpu_wheel if device == "cpu" else PIN.cuda_wheel
    assert art is not None
    path = LAYOUT.downloads / art.name
    assert path.is_file(), f"{path} missing: run `make wheel`"
    return path


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_wheel_contents(device: str) -> None:
    ours, release = series_wheel(device), release_wheel(device)
    version = ours.name.split("-")[1]
    # what the patches touch, and what local work in build/vllm changes
    local = git(LAYOUT.tree, "diff", "--name-only", PIN.tag).split()
    changed = list(dict.fromkeys(touched_files(patch_files(LAYOUT.patches)) + local))
    in_package = [p for p in changed if p.startswith("vllm/")]
    assert len(in_package) >= 10  # the series' model/processor changes
    with zipfile.ZipFile(ours) as zo, zipfile.ZipFile(release) as zr:
        got = {i.filename: i for i in zo.infolist()}
        for path in in_package:
            if not (LAYOUT.tree / path).exists():
                assert path not in got, f"{path} (deleted) is in the wheel"
                continue
            assert path in got, f"{path} (changed by the series) is not in the wheel"
            assert zo.read(path) == (LAYOUT.tree / path).read_bytes(), path
        for path in changed:
            if not path.startswith("vllm/"):
                assert path not in got, path  # tests, docs: not shipped
        extensions = [i for i in zr.infolist() if i.filename.endswith(".so")]
        assert extensions, f"{release.name} has no compiled extension"
        if device == "cpu":  # what `make build` copies into build/vllm
            assert set(build.kernel_names(zr)) == {
                "vllm/_C.abi3.so",
                "vllm/_C_AVX2.abi3.so",
                "vllm/_C_AVX512.abi3.so",
            }
        for info in zr.infolist():
            name = info.filename
            if name in in_package or name == "vllm/_version.py":
                continue
            if name.split("/")[0].endswith(".dist-info"):
                continue
            assert name in got, f"{name} of the release is missing"
            assert (got[name].CRC, got[name].file_size) == (
                info.CRC,
                info.file_size,
            ), f"{name} differs from the release's"
        meta = zo.read(f"vllm-{version}.dist-info/METADATA").decode()
        assert f"\nVersion: {version}\n" in meta and "\nName: vllm\n" in meta
        assert (
            f"__version__ = version = '{version}'"
            in zo.read("vllm/_version.py").decode()
        )


@pytest.mark.fresh_venv
def test_cpu_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    """pip install of the CPU wheel (locked deps), then `make smoke` with it."""
    import tiny_models  # (torch, transformers: not at collection)

    wheel = series_wheel("cpu")
    version = wheel.name.split("-")[1]
    model = tiny_models.make_model(
        "qwen3_vl",
        Path(os.environ.get("TINY_MODELS_DIR", LAYOUT.build / "models")) / "qwen3_vl",
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    start = time.monotonic()
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"{wheel}\n")  # the wheel's Requires-Dist, checked offline
    build.install_dependencies(LAYOUT, "cpu", reqs, py=py)
    build.pip_install(py, ["--no-deps", str(wheel)], "installing the series CPU wheel")
    print(f"fresh venv install: {time.monotonic() - start:.0f} s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
        VLLM_CPU_KVCACHE_SPACE="1",
    )
    work = tmp_path / "work"
    work.mkdir()
    probe = subprocess.run(
        [str(py), "-c", "import sys, vllm; print(vllm.__version__, vllm.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    got_version, got_file = probe.stdout.split()
    assert got_version == version
    assert Path(got_file).resolve().is_relative_to(venv.resolve())
    start = time.monotonic()
    smoke = subprocess.run(
        [str(py), str(ROOT / "scripts" / "smoke.py"), "--model-dir", str(model)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(smoke.stdout[-3000:])
    print(f"smoke through the wheel: {time.monotonic() - start:.0f} s")
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    assert "smoke: OK (2 requests" in smoke.stdout
    assert "[image] prompt" in smoke.stdout
