# SPDX-License-Identifier: Apache-2.0
"""The tooling's one error type and the wrapper that prints it in one line."""

from __future__ import annotations

import sys
from collections.abc import Callable


class SeriesError(Exception):
    """A failure the user can act on; printed as one line."""


def run_main(main: Callable[[], int | None]) -> int:
    """Run an entry point: every failure is one line on stderr, no traceback.

    SeriesError is the tooling's own message; OSError (a read-only checkout,
    a full disk) is named with its file; Ctrl-C says that the next run
    recovers by itself.
    """
    try:
        return main() or 0
    except SeriesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "error: interrupted; run the same command again (it recovers by itself)",
            file=sys.stderr,
        )
        return 130
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
