# SPDX-License-Identifier: Apache-2.0
"""Progress of long steps: a download bar on a terminal, timed step lines.

The bar is drawn on stderr only when it is a terminal and CI is not set (CI
logs get no carriage-return noise); `step` always says what runs and, at the
end, how long it took.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

WIDTH = 30


def interactive(stream: TextIO | None = None) -> bool:
    """Whether to draw a bar on `stream` (stderr by default)."""
    stream = sys.stderr if stream is None else stream
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def render(label: str, done: int, total: int | None, seconds: float) -> str:
    """One bar line, e.g. `vllm.whl [=====>    ] 45% 34.0/75.0 MB 12.0 MB/s`."""
    rate = f"{mb(int(done / seconds))}/s" if seconds > 0 else ""
    if not total:
        return f"{label} {mb(done)} {rate}".rstrip()
    frac = min(done / total, 1.0)
    fill = int(frac * WIDTH)
    bar = "=" * fill + (">" if fill < WIDTH else "") + " " * (WIDTH - fill - 1)
    return (
        f"{label} [{bar[:WIDTH]}] {frac:4.0%} "
        f"{done / 1e6:.1f}/{mb(total)} {rate}".rstrip()
    )


class Bar:
    """A download bar: `with Bar(label, total) as bar: bar.advance(n)`."""

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.1,
    ) -> None:
        self.label, self.total = label, total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.interval = interval
        self.done = 0
        self._start = self._last = time.monotonic()

    def __enter__(self) -> Bar:
        return self

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        line = render(self.label, self.done, self.total, now - self._start)
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def step(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Print `==> what`, run the block, then `    what: 12.3 s` (or failed)."""
    out = sys.stdout if stream is None else stream
    print(f"==> {what}", file=out, flush=True)
    start = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        took = time.monotonic() - start
        print(
            f"    {what}: {'done' if ok else 'FAILED'} in {took:.1f} s",
            file=out,
            flush=True,
        )
