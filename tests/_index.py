# SPDX-License-Identifier: Apache-2.0
"""A small PEP 503 package index in a temporary directory, for the tests.

Every tooling test runs with pip's configuration replaced by one file://
index of its own (see conftest.py), so nothing reaches the network and the
user's pip.conf does not matter. `publish` puts a file on that index (or on
another one); `serve` serves an index over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import index

PIP_VARIABLES = ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")


def isolate(monkeypatch, root: Path) -> Path:  # type: ignore[no-untyped-def]
    """Make `root` (a fresh file:// index) pip's only index; return it."""
    (root / "simple").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in PIP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", f"file://{root}/simple")
    return root


def current_root() -> Path:
    url = os.environ["PIP_INDEX_URL"]
    assert url.startswith("file://") and url.endswith("/simple"), url
    return Path(url.removeprefix("file://")).parent


def publish(
    path: Path,
    root: Path | None = None,
    sha256: str | None = "auto",
    data: bytes | None = None,
) -> Path:
    """Put `path` (or `data` under its name) on the index at `root` (default:
    the test's own). The link carries `#sha256=` of the file, or `sha256`
    when given, or none when None. Returns the stored file."""
    root = current_root() if root is None else root
    data = path.read_bytes() if data is None else data
    stored = root / "files" / path.name
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(data)
    if sha256 == "auto":
        sha256 = hashlib.sha256(data).hexdigest()
    fragment = f"#sha256={sha256}" if sha256 else ""
    page = root / "simple" / index.project_of(path.name) / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    links = page.read_text().split("\n") if page.exists() else []
    name = html.escape(path.name)
    links = [x for x in links if f">{name}</a>" not in x]
    links.append(f'<a href="../../files/{name}{fragment}">{name}</a>')
    page.write_text("\n".join(links))
    return stored


class _Quiet(SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]


class _Encoded(_Quiet):
    """Sends each file as `reply` says (its body and headers), or as a plain
    file server does where `reply` gives None."""

    def reply(self, data: bytes, path: Path) -> tuple[bytes, dict[str, str]] | None:
        raise NotImplementedError

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        sent = self.reply(path.read_bytes(), path) if path.is_file() else None
        if sent is None:
            return super().do_GET()
        body, headers = sent
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Gzip(_Encoded):
    """Compresses every file with gzip when the request allows it
    (`Accept-Encoding` naming gzip), as nginx's `gzip on` or a CDN does."""

    def reply(self, data: bytes, path: Path) -> tuple[bytes, dict[str, str]] | None:
        if "gzip" not in self.headers.get("Accept-Encoding", ""):
            return None
        body = gzip.compress(data)
        return body, {"Content-Encoding": "gzip", "Content-Length": str(len(body))}


class _GzipLabel(_Encoded):
    """Serves each `.gz` file as it is but labelled `Content-Encoding: gzip`,
    whatever the request allows (Apache's `AddEncoding x-gzip .gz`)."""

    def reply(self, data: bytes, path: Path) -> tuple[bytes, dict[str, str]] | None:
        if path.suffix != ".gz":
            return None
        return data, {"Content-Encoding": "gzip", "Content-Length": str(len(data))}


class _NoLength(_Encoded):
    """Sends each file without Content-Length, ending it by closing the
    connection (HTTP/1.0), as a server streaming a response does."""

    def reply(self, data: bytes, path: Path) -> tuple[bytes, dict[str, str]] | None:
        return data, {}


HANDLERS = {
    "plain": _Quiet,
    "gzip": _Gzip,
    "gzip-label": _GzipLabel,
    "no-length": _NoLength,
}


@contextmanager
def serve(root: Path, encoding: str = "plain") -> Iterator[tuple[str, list[str]]]:
    """Serve `root` on 127.0.0.1: yields (index URL, paths requested).
    `encoding`: "plain", "gzip" (compressed when the client allows),
    "gzip-label" (`.gz` files labelled Content-Encoding: gzip) or "no-length"
    (files sent without Content-Length)."""
    handler = functools.partial(HANDLERS[encoding], directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/simple", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
