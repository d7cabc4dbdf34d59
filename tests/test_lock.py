# SPDX-License-Identifier: Apache-2.0
"""The hash lock: its format, `make lock` from a local index, and the build's
pip install in hash-checking mode refusing a changed file."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from _index import publish

import build
import lock
import lockfile
from errors import SeriesError
from pin import Layout


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_wheel(path: Path, name: str, version: str, body: str = "") -> Path:
    """A real, installable pure-Python wheel."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n{body}",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for k, v in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest())
        record.append(f"{k},sha256={digest.rstrip(b'=').decode()},{len(v)}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = path / f"{name}-{version}-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return wheel


def test_render_and_parse_round_trip(tmp_path: Path) -> None:
    pins = {
        ("numpy", "2.0"): ["b" * 64, "a" * 64, "a" * 64],
        ("Attrs", "1"): ["c" * 64],
    }
    text = lockfile.render("# head\n", pins)
    assert text == (
        "# head\nAttrs==1 \\\n    --hash=sha256:" + "c" * 64 + "\nnumpy==2.0 \\\n"
        "    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\n"
    )
    f = tmp_path / "lock.txt"
    f.write_text(text)
    assert lockfile.parse(f) == {
        ("Attrs", "1"): ["c" * 64],
        ("numpy", "2.0"): ["a" * 64, "b" * 64],
    }
    assert lockfile.versions_only(lockfile.parse(f)) == "Attrs==1\nnumpy==2.0\n"
    with pytest.raises(SeriesError, match="no sha256 to lock"):
        lockfile.render("", {("x", "1"): []})
    f.write_text("numpy>=2 --hash=sha256:" + "a" * 64 + "\n")
    with pytest.raises(SeriesError, match="not `name==version --hash"):
        lockfile.parse(f)
    f.write_text("numpy==2 --hash=md5:abc\n")
    with pytest.raises(SeriesError, match="not `name==version --hash"):
        lockfile.parse(f)
    with pytest.raises(SeriesError, match="run `make lock`"):
        lockfile.parse(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("filename", "ok"),
    [
        ("x-1.tar.gz", True),
        ("x-1-py3-none-any.whl", True),
        ("x-1-py2.py3-none-any.whl", True),
        ("x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("x-1-cp313-cp313-musllinux_1_2_x86_64.whl", True),
        ("x-1-cp38-abi3-manylinux_2_28_x86_64.whl", True),  # abi3: any later CPython
        ("x-1-cp310-cp310-linux_x86_64.whl", True),
        ("x-1-cp39-cp39-manylinux_2_17_x86_64.whl", False),  # Python 3.9
        ("x-1-cp314-cp314-manylinux_2_17_x86_64.whl", False),
        ("x-1-cp311-cp311-manylinux_2_17_aarch64.whl", False),
        ("x-1-cp311-cp311-win_amd64.whl", False),
        ("x-1-cp311-cp311-macosx_11_0_arm64.whl", False),
        ("x-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", False),
    ],
)
def test_installable(filename: str, ok: bool) -> None:
    assert lock.installable(filename) is ok


def test_pinned_keeps_setuptools_drops_pip_and_vllm() -> None:
    out = "setuptools==77.0.3\npip==23.2.1\nvllm==0.19.1+cpu\nWheel==0.48\n"
    assert lock.pinned(out) == [("setuptools", "77.0.3"), ("Wheel", "0.48")]


FREEZE = """#!/bin/sh
echo 'pip==23.2.1'
echo 'alpha==1.0'
echo 'Beta==2.0'
"""


def test_main_locks_the_venv_with_the_index_checksums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import runlock

    layout = Layout(root=tmp_path, build=tmp_path / "build", patches=tmp_path / "p")
    layout.python.parent.mkdir(parents=True)
    layout.python.write_text(FREEZE)
    layout.python.chmod(0o755)
    (tmp_path / "scripts").mkdir()
    a = tiny_wheel(tmp_path / "w", "alpha", "1.0")
    publish(a)
    # beta: an sdist advertised without a checksum (hashed here), a wheel for
    # this platform, and files no supported host installs (not locked)
    sdist = tmp_path / "w" / "Beta-2.0.tar.gz"
    sdist.write_bytes(b"beta sdist")
    publish(sdist, sha256=None)
    for name in (
        "beta-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "beta-2.0-cp312-cp312-win_amd64.whl",
        "beta-2.0-cp39-cp39-manylinux_2_17_x86_64.whl",
        "beta-3.0-py3-none-any.whl",
    ):
        publish(tmp_path / "w" / name, data=name.encode())
    monkeypatch.setenv("SERIES_ROOT", str(tmp_path))
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)
    try:
        assert lock.main([]) == 0
    finally:
        runlock.release(layout.lock_file)
    assert lockfile.parse(layout.constraints) == {
        ("alpha", "1.0"): [sha(a.read_bytes())],
        ("Beta", "2.0"): sorted(
            [
                sha(b"beta sdist"),
                sha(b"beta-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
            ]
        ),
    }
    assert layout.constraints.read_text().startswith(
        "# Hash lock: exact versions and sha256 of everything 'make build DEVICE=cpu'\n"
        "# installs into build/venv (pip install --require-hashes). Regenerate with\n"
        "# 'make lock DEVICE=cpu' after changing scripts/requirements-test.txt or the\n"
        "# pin in VERSION.\n"
    )
    assert "2 pins, 3 sha256" in capsys.readouterr().out


def test_header_of_another_pin(tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "VERSION").write_text("")
    layout = Layout.for_pin(tmp_path, tmp_path / "build", "up")
    assert lock.header(layout, "cuda").splitlines() == [
        "# Hash lock: exact versions and sha256 of everything 'make build DEVICE=cuda PIN=up'",
        "# installs into build/up/venv (pip install --require-hashes). Regenerate with",
        "# 'make lock DEVICE=cuda PIN=up' after changing up/requirements-test.txt or the",
        "# pin in up/VERSION.",
    ]


def test_main_refuses_a_pin_the_index_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock.index, "find_files", lambda name, version: [])
    with pytest.raises(SeriesError, match="alpha==1.0: the package index has no file"):
        lock.lock([("alpha", "1.0")])


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, empty virtual environment; its pip is the base Python's (the
    one the tooling runs under), which is quicker than ensurepip's copy."""
    path = tmp_path_factory.mktemp("venv")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "venv",
            "--without-pip",
            "--system-site-packages",
            str(path),
        ],
        check=True,
    )
    if subprocess.run([path / "bin" / "python", "-m", "pip", "--version"]).returncode:
        subprocess.run([path / "bin" / "python", "-m", "ensurepip", "-q"], check=True)
    return path


def test_build_installs_the_lock_by_hash_and_refuses_a_changed_file(
    tmp_path: Path, venv: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    layout = Layout(root=tmp_path, build=tmp_path / "build", patches=tmp_path / "p")
    (tmp_path / "scripts").mkdir()
    layout.build.mkdir()
    (layout.build / "venv").symlink_to(venv)
    good = tiny_wheel(tmp_path / "good", "alpha", "1.0")
    publish(good)
    layout.constraints.write_text(
        f"alpha==1.0 \\\n    --hash=sha256:{sha(good.read_bytes())}\n"
    )
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("alpha>=1\n")
    # a mirror now serves another file under the same name: refused
    evil = tiny_wheel(tmp_path / "evil", "alpha", "1.0", body="EVIL = True\n")
    publish(evil, sha256=None)
    with pytest.raises(SeriesError, match=r"dependencies \(hash-checked\) failed"):
        build.install_dependencies(layout, "cpu", reqs)
    err = capfd.readouterr().err
    assert "DO NOT MATCH THE HASHES" in err and sha(evil.read_bytes()) in err
    assert not list(venv.glob("lib/python*/site-packages/alpha.py"))
    # the pinned file: installed, and the requirements are met
    publish(good)
    build.install_dependencies(layout, "cpu", reqs)
    (mod,) = venv.glob("lib/python*/site-packages/alpha.py")
    assert "EVIL" not in mod.read_text()
    # a requirement the lock lacks is caught offline, naming `make lock`
    reqs.write_text("alpha>=1\ngamma\n")
    with pytest.raises(SeriesError, match="run `make lock`"):
        build.install_dependencies(layout, "cpu", reqs)
    assert "No matching distribution found for gamma" in capfd.readouterr().err


def test_report_pins() -> None:
    report = {
        "install": [
            {"metadata": {"name": "Zeta", "version": "1"}},
            {"metadata": {"name": "alpha", "version": "2.0"}},
            {"metadata": {"name": "pip", "version": "24"}},
            {"metadata": {"name": "vllm", "version": "0.19.1"}},
        ]
    }
    assert lock.report_pins(report) == [("alpha", "2.0"), ("Zeta", "1")]
    assert lock.report_pins({}) == []


RESOLVER = """#!/bin/sh
# a venv python whose pip resolves to alpha 1.0, writing pip's --report
echo "$@" > {log}
while [ $# -gt 0 ]; do
  case "$1" in
    --report) shift; report=$1 ;;
    -c) shift; cp "$1" {log}.constraints ;;
  esac
  shift
done
echo '{{"install": [{{"metadata": {{"name": "alpha", "version": "1.0"}}}}]}}' > "$report"
"""


def test_main_cuda_resolves_under_the_cpu_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runlock

    layout = Layout(root=tmp_path, build=tmp_path / "build", patches=tmp_path / "p")
    log = tmp_path / "pip.log"
    layout.python.parent.mkdir(parents=True)
    layout.python.write_text(RESOLVER.format(log=log))
    layout.python.chmod(0o755)
    (tmp_path / "scripts").mkdir()
    layout.test_requirements.write_text("pytest\n")
    layout.constraints.write_text("alpha==1.0 --hash=sha256:" + "a" * 64 + "\n")
    (tmp_path / "VERSION").write_text(
        "VLLM_TAG=v1\nVLLM_VERSION=1\nSDIST_NAME=s\nSDIST_SHA256=0\nSDIST_SIZE=1\n"
        "CPU_WHEEL_NAME=w.whl\nCPU_WHEEL_SHA256=0\nCPU_WHEEL_SIZE=1\nTORCH=torch==2\n"
    )
    (layout.tree / "requirements").mkdir(parents=True)
    (layout.tree / "requirements" / "build.txt").write_text("setuptools\n")
    a = tiny_wheel(tmp_path / "w", "alpha", "1.0")
    publish(a)
    monkeypatch.setenv("SERIES_ROOT", str(tmp_path))
    monkeypatch.delenv(runlock.HELD_ENV, raising=False)
    try:
        assert lock.main(["--device", "cuda"]) == 0
    finally:
        runlock.release(layout.lock_file)
    args = log.read_text()
    assert args.startswith("-m pip install --dry-run -q --ignore-installed --report ")
    assert Path(f"{log}.constraints").read_text() == "alpha==1.0\n"  # cpu versions
    cuda = layout.lock_for("cuda")
    assert cuda.name == "constraints-cuda.txt"
    assert lockfile.parse(cuda) == {("alpha", "1.0"): [sha(a.read_bytes())]}
    assert "make lock DEVICE=cuda" in cuda.read_text()
    # the cpu lock is left alone
    assert (
        layout.constraints.read_text() == "alpha==1.0 --hash=sha256:" + "a" * 64 + "\n"
    )
