# SPDX-License-Identifier: Apache-2.0
"""serve.py's process handling: free_port, and stop() ending the whole group."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import serve


def test_free_port_is_free_and_bindable() -> None:
    port = serve.free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        taken = s.getsockname()[1]
        assert serve.free_port() != taken


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def test_stop_ends_the_server_and_its_children(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    server = serve.VLLMServer(model, log_path=tmp_path / "log")
    pids = tmp_path / "pids"
    # A "server" that starts an engine-like child ignoring SIGTERM.
    server.cmd = [
        sys.executable,
        "-c",
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "time.sleep(120)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(120)\n",
    ]
    server.start()
    deadline = time.monotonic() + 30
    while not (pids.exists() and " " in pids.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    leader, child = map(int, pids.read_text().split())
    assert alive(leader) and alive(child)
    serve.STOP_TIMEOUT_S, old = 2.0, serve.STOP_TIMEOUT_S
    try:
        t0 = time.monotonic()
        server.stop()
    finally:
        serve.STOP_TIMEOUT_S = old
    assert time.monotonic() - t0 < 20
    assert server.proc is None and not alive(leader)
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    server.stop()  # idempotent
