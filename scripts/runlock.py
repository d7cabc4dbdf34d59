# SPDX-License-Identifier: Apache-2.0
"""One tooling command at a time per checkout: an exclusive lock on build/.lock.

A second command is refused at once with one line naming the first one. A
child process of the holder (`make test` running pytest running the tooling)
inherits the lock through SERIES_LOCK_HELD instead of deadlocking on it.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import IO

from errors import SeriesError

HELD_ENV = "SERIES_LOCK_HELD"
_held: dict[str, IO[str]] = {}


def acquire(lock_file: Path, what: str | None = None) -> None:
    """Hold `lock_file` until this process exits, or raise SeriesError."""
    key = str(lock_file.resolve()) if lock_file.exists() else str(lock_file)
    if key in _held or os.environ.get(HELD_ENV) == key:
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    f = lock_file.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise SeriesError(
            f"another tooling command is running on this checkout ({holder}); "
            f"wait for it to finish, then run this one again"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}: {what or ' '.join(sys.argv)}\n")
    f.flush()
    key = str(lock_file.resolve())
    _held[key] = f
    os.environ[HELD_ENV] = key


def release(lock_file: Path) -> None:
    key = str(lock_file.resolve())
    f = _held.pop(key, None)
    if f is not None:
        f.close()
    if os.environ.get(HELD_ENV) == key:
        del os.environ[HELD_ENV]
