# SPDX-License-Identifier: Apache-2.0
"""Refuse, in one line, a Python that vLLM's pin does not support.

Every entry point of the tooling imports this module first, before any other
work: `import pycheck  # noqa: F401`. It is written for any Python 3 so that
even an old interpreter gets the one-line message rather than a traceback.
"""

import sys

SUPPORTED = ((3, 10), (3, 13))


def problem(version_info=None):
    """The message for an unsupported `version_info`, or None."""
    v = tuple((version_info or sys.version_info)[:2])
    if SUPPORTED[0] <= v <= SUPPORTED[1]:
        return None
    lo, hi = SUPPORTED
    return (
        "Python %d.%d is not supported: use %d.%d to %d.%d (make PYTHON=python3.x)"
        % (
            v[0],
            v[1],
            lo[0],
            lo[1],
            hi[0],
            hi[1],
        )
    )


def require():
    msg = problem()
    if msg:
        sys.stderr.write("error: " + msg + "\n")
        sys.exit(1)


require()
