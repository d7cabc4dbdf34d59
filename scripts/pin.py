# SPDX-License-Identifier: Apache-2.0
"""The pin: what VERSION names, and where the series and its build live.

VERSION is parsed here and nowhere else (the Makefile `include`s it for the
tag in `make help`). `Layout` is the one place that knows the paths of the
series (patches/, the test manifest, the constraints) and of its build.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from errors import SeriesError

ROOT = Path(__file__).resolve().parent.parent


def read_kv(path: Path) -> dict[str, str]:
    """Parse a KEY=VALUE file (comments with '#')."""
    if not path.is_file():
        raise SeriesError(f"{path} not found")
    values: dict[str, str] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise SeriesError(f"{path}:{n}: expected KEY=VALUE, got {raw!r}")
        values[key] = value
    return values


@dataclass(frozen=True)
class Artifact:
    """A file the tooling downloads (through the configured package index),
    with what it must be. No URL: where it lies is the index's business."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Pin:
    """What VERSION pins."""

    tag: str
    version: str
    sdist: Artifact
    cpu_wheel: Artifact | None = None
    cuda_wheel: Artifact | None = None

    @classmethod
    def load(cls, path: Path) -> Pin:
        values = read_kv(path)

        def artifact(prefix: str) -> Artifact | None:
            if prefix != "SDIST" and f"{prefix}_NAME" not in values:
                return None
            try:
                return Artifact(
                    name=values[f"{prefix}_NAME"],
                    sha256=values[f"{prefix}_SHA256"],
                    size=int(values[f"{prefix}_SIZE"]),
                )
            except KeyError as e:
                raise SeriesError(f"{path}: missing key {e.args[0]}") from None
            except ValueError:
                raise SeriesError(f"{path}: {prefix}_SIZE is not a number") from None

        try:
            tag, version = values["VLLM_TAG"], values["VLLM_VERSION"]
        except KeyError as e:
            raise SeriesError(f"{path}: missing key {e.args[0]}") from None
        sdist = artifact("SDIST")
        assert sdist is not None
        return cls(
            tag=tag,
            version=version,
            sdist=sdist,
            cpu_wheel=artifact("CPU_WHEEL"),
            cuda_wheel=artifact("CUDA_WHEEL"),
        )


@dataclass(frozen=True)
class Layout:
    """Where the series and its build live.

    SERIES_ROOT / SERIES_BUILD_DIR move them (tests use temporary dirs).
    """

    root: Path
    build: Path
    patches: Path

    @classmethod
    def default(cls) -> Layout:
        root = Path(os.environ.get("SERIES_ROOT", ROOT))
        build = Path(os.environ.get("SERIES_BUILD_DIR", root / "build"))
        return cls(root=root, build=build, patches=root / "patches")

    @property
    def version_file(self) -> Path:
        return self.root / "VERSION"

    @property
    def manifest(self) -> Path:
        return self.root / "tests" / "vllm-tests.txt"

    @property
    def constraints(self) -> Path:
        return self.root / "scripts" / "constraints.txt"

    def lock_for(self, device: str) -> Path:
        """The hash lock of `device` (cpu: the constraints file itself)."""
        if device == "cpu":
            return self.constraints
        return self.root / "scripts" / f"constraints-{device}.txt"

    @property
    def test_requirements(self) -> Path:
        return self.root / "scripts" / "requirements-test.txt"

    @property
    def downloads(self) -> Path:
        return self.build / "downloads"

    @property
    def src(self) -> Path:
        return self.build / "src"

    @property
    def tree(self) -> Path:
        return self.build / "vllm"

    @property
    def dist(self) -> Path:
        """Where `make wheel` writes the series' wheels."""
        return self.build / "dist"

    @property
    def venv(self) -> Path:
        return self.build / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def lock_file(self) -> Path:
        return self.build / ".lock"
