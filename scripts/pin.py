# SPDX-License-Identifier: Apache-2.0
"""The pin: what VERSION names, and where the series and its build live.

VERSION is parsed here and nowhere else (the Makefile `include`s it for the
tag in `make help`). `Layout` is the one place that knows the paths of the
series (patches/, the test manifest, the constraints) and of its build.

A checkout holds the main series at its root (VERSION, patches/,
tests/vllm-tests.txt, scripts/constraints*.txt) and may hold more pins: a
directory NAME/ with its own VERSION, patches/, vllm-tests.txt,
requirements-test.txt and constraints*.txt, built under build/NAME/
(`make ... PIN=NAME`, SERIES_PIN in the environment). Downloads are shared.
"""

from __future__ import annotations

import os
import re
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


STYLES = ("backport", "upstream")


@dataclass(frozen=True)
class Pin:
    """What VERSION pins."""

    tag: str
    version: str
    sdist: Artifact
    cpu_wheel: Artifact | None = None
    cuda_wheel: Artifact | None = None
    # The torch requirements the release's kernels were built against
    # (TORCH=, space-separated): the wheels' own pins carry local versions
    # (+cpu) that the index may not have.
    torch: tuple[str, ...] = ()
    # How the patches' messages are checked (PATCH_STYLE=): "backport" (the
    # main series: Upstream:, Backport-notes:) or "upstream" (ports meant to
    # be sent as they are: no Backport-notes, the upstream PR named).
    style: str = "backport"

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
        style = values.get("PATCH_STYLE", "backport")
        if style not in STYLES:
            raise SeriesError(
                f"{path}: PATCH_STYLE must be one of {', '.join(STYLES)}, not {style!r}"
            )
        return cls(
            tag=tag,
            version=version,
            sdist=sdist,
            cpu_wheel=artifact("CPU_WHEEL"),
            cuda_wheel=artifact("CUDA_WHEEL"),
            torch=tuple(values.get("TORCH", "").split()),
            style=style,
        )


PIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Layout:
    """Where the series and its build live.

    SERIES_ROOT / SERIES_BUILD_DIR move them (tests use temporary dirs);
    SERIES_PIN names a pin other than the main series.
    """

    root: Path
    build: Path
    patches: Path
    # A named pin's directory (None: the main series, at the root).
    series: Path | None = None
    # The build directory whose downloads/ every pin shares (None: build).
    shared: Path | None = None

    @classmethod
    def default(cls) -> Layout:
        root = Path(os.environ.get("SERIES_ROOT", ROOT))
        build = Path(os.environ.get("SERIES_BUILD_DIR", root / "build"))
        return cls.for_pin(root, build, os.environ.get("SERIES_PIN", ""))

    @classmethod
    def for_pin(cls, root: Path, build: Path, name: str) -> Layout:
        """The main series (`name` empty) or the pin in directory root/name."""
        if not name:
            return cls(root=root, build=build, patches=root / "patches")
        series = root / name
        if not PIN_NAME.match(name) or name == "build":
            raise SeriesError(f"PIN={name}: not a directory name of this checkout")
        if not (series / "VERSION").is_file():
            raise SeriesError(
                f"PIN={name}: {series / 'VERSION'} not found (a pin is a directory "
                f"with its VERSION and patches/)"
            )
        return cls(
            root=root,
            build=build / name,
            patches=series / "patches",
            series=series,
            shared=build,
        )

    @property
    def version_file(self) -> Path:
        return (self.series or self.root) / "VERSION"

    @property
    def manifest(self) -> Path:
        if self.series:
            return self.series / "vllm-tests.txt"
        return self.root / "tests" / "vllm-tests.txt"

    @property
    def requirements_dir(self) -> Path:
        """Where the test requirements and the hash locks are."""
        return self.series or self.root / "scripts"

    @property
    def constraints(self) -> Path:
        return self.requirements_dir / "constraints.txt"

    def lock_for(self, device: str) -> Path:
        """The hash lock of `device` (cpu: the constraints file itself)."""
        if device == "cpu":
            return self.constraints
        return self.requirements_dir / f"constraints-{device}.txt"

    @property
    def test_requirements(self) -> Path:
        return self.requirements_dir / "requirements-test.txt"

    @property
    def port_tests(self) -> Path:
        """`PATCH: pytest arguments`, the tests of each patch (portcheck)."""
        return (self.series or self.root) / "TESTS"

    @property
    def downloads(self) -> Path:
        return (self.shared or self.build) / "downloads"

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
