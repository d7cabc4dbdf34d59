#!/usr/bin/env python3
"""Start `vllm serve` for a tiny local checkpoint on 127.0.0.1 (CPU).

    python scripts/serve.py [--model build/models/qwen3_vl] [--port N]

runs the server in the foreground until Ctrl-C. Other scripts and the e2e
tests use `VLLMServer`, a context manager that picks a free port, waits until
/health answers and always stops the whole process group it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pin import Layout  # noqa: E402

_LAYOUT = Layout.default()  # where the series and its build live
BUILD = _LAYOUT.build
DEFAULT_MODEL = "qwen3_vl"
STARTUP_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 30.0


class ServerError(RuntimeError):
    """The server did not start or died; the message holds its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resolve_model(model: str) -> Path:
    """Map a tiny model name (`qwen3_vl`) or a path to a checkpoint directory.

    A tiny model is built by scripts/tiny_models.py into build/models/ (or
    $TINY_MODELS_DIR) unless it is there already.
    """
    import tiny_models

    if model in tiny_models.RECIPES:
        models_dir = Path(os.environ.get("TINY_MODELS_DIR", BUILD / "models"))
        return tiny_models.make_model(model, models_dir / model)
    path = Path(model)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path} (expected {path / 'config.json'}); give a "
            f"directory or one of {', '.join(sorted(tiny_models.RECIPES))}"
        )
    return path.resolve()


# vLLM refuses a per-prompt limit above what the model supports.
MM_LIMITS = {"image": 2, "video": 2}
MODEL_MM_LIMITS = {"KeyeVL1_5ForConditionalGeneration": {"video": 1}}


def checkpoint_config(model: Path) -> dict[str, Any]:
    """The checkpoint's config.json ({} without one)."""
    path = model / "config.json"
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def uses_remote_code(model: Path) -> bool:
    """The checkpoint brings its own config/processor modules (`auto_map`)."""
    return "auto_map" in checkpoint_config(model)


def mm_limits(model: Path) -> dict[str, int]:
    architectures = checkpoint_config(model).get("architectures") or []
    limits = dict(MM_LIMITS)
    for arch in architectures:
        limits.update(MODEL_MM_LIMITS.get(str(arch), {}))
    return limits


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a frugal, offline CPU server."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    if extra:
        env.update(extra)
    return env


def serve_command(
    model: Path,
    port: int,
    served_name: str,
    extra_args: list[str] | None = None,
) -> list[str]:
    """The `vllm serve` command line (run with this interpreter)."""
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.cli.main",
        "serve",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        served_name,
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "4",
        "--limit-mm-per-prompt",
        json.dumps(mm_limits(model)),
        "--media-io-kwargs",
        json.dumps({"video": {"num_frames": 8}}),
        "--seed",
        "0",
        *(["--trust-remote-code"] if uses_remote_code(model) else []),
        *(extra_args or []),
    ]


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class VLLMServer:
    """`vllm serve` in its own process group; `with` starts and stops it."""

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        port: int | None = None,
        served_name: str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.model = resolve_model(str(model))
        self.port = port if port is not None else free_port()
        self.served_name = served_name or f"tiny-{self.model.name}"
        self.cmd = serve_command(self.model, self.port, self.served_name, extra_args)
        self.env = server_env(env)
        self.log_path = log_path or BUILD / "logs" / f"serve-{self.port}.log"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs_to_file = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def log_tail(self, lines: int = 40) -> str:
        if not self.logs_to_file:
            return "(its output is above)"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self, *, log_to_file: bool = True) -> None:
        """Start the server; its output goes to log_path (or this terminal)."""
        if self.proc is not None:
            raise ServerError("server already started")
        log_file = None
        self.logs_to_file = log_to_file
        if log_to_file:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = self.log_path.open("wb")
        try:
            # start_new_session: the server and its engine-core child share a
            # process group that stop() can end without touching anything else.
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT if log_file else None,
                start_new_session=True,
            )
        finally:
            if log_file is not None:
                log_file.close()

    def wait_ready(self) -> None:
        if self.proc is None:
            raise ServerError("server not started")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerError(
                    f"vllm serve exited with code {code} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if _http_ok(f"{self.base_url}/health"):
                return
            time.sleep(1.0)
        raise ServerError(
            f"vllm serve not ready after {self.startup_timeout:.0f} s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def is_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it does not exit in time."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # leader of its own session/process group
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; make sure no child of the group survives it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            break
        self.proc = None

    def __enter__(self) -> VLLMServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=os.environ.get("MODEL", DEFAULT_MODEL),
        help="checkpoint directory or tiny model name (scripts/tiny_models.py --list)",
    )
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    parser.add_argument(
        "extra", nargs="*", help="more `vllm serve` arguments (after --)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    server = VLLMServer(args.model, port=args.port, extra_args=args.extra)
    print(f"$ {' '.join(server.cmd)}", flush=True)
    server.start(log_to_file=False)
    try:
        server.wait_ready()
        print(
            f"\nServing {server.served_name} at {server.api_url} "
            f"(Ctrl-C to stop). Try:\n"
            f"  curl -s {server.api_url}/chat/completions "
            "-H 'Content-Type: application/json' -d "
            f'\'{{"model": "{server.served_name}", "max_tokens": 8, '
            '"messages": [{"role": "user", "content": "Hello"}]}\'\n',
            flush=True,
        )
        return server.proc.wait() if server.proc is not None else 1
    except KeyboardInterrupt:
        print("\nstopping the server", flush=True)
        return 0
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
