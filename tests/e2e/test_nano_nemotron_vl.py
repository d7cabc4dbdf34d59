"""Nano Nemotron VL (tiny NemotronH_Nano_VL_V2, remote-code config) through
vLLM: the per-item maxima and encoder cache size of pristine v0.19.1,
upstream's rule (seq_len) and ours, and `vllm serve` answering an image at
the maximum tile count and refusing a request over the limits with a 400.

The tiny checkpoint has no weights file (load_format=dummy) and a NemotronH
text model of attention + MLP layers only: see scripts/tiny_nano.py.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import eval_local  # noqa: E402
import nano_maxima  # noqa: E402
from mm_media import image_part, png_bytes  # noqa: E402
from serve import VLLMServer  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

MAX_MODEL_LEN = 4096
MAX_NUM_TILES = 4
# Tiles of 128 px, patches of 16 px, pixel shuffle 0.5: 8*8/4 tokens a tile.
TOKENS_PER_TILE = (128 // 16) ** 2 // 4
# At most MAX_NUM_TILES tiles plus the thumbnail (use_thumbnail).
MAX_IMAGE_TOKENS = (MAX_NUM_TILES + 1) * TOKENS_PER_TILE
PATCHED = Path(os.environ.get("NANO_PATCHED_TREE", ROOT / "build" / "vllm"))


@pytest.fixture(scope="module")
def nano(tiny_model) -> Path:
    return tiny_model("nano_nemotron_vl")


def test_maxima_and_encoder_cache_table(nano: Path) -> None:
    eval_local.ensure_pristine_tree()
    kwargs = nano_maxima.settings(MAX_MODEL_LEN, MAX_NUM_TILES)
    # One after the other: on 2 cores two at once are slower than in turn.
    ours = nano_maxima.measure_tree(PATCHED, nano, kwargs)
    pristine = nano_maxima.measure_tree(eval_local.PRISTINE, nano, kwargs)
    batched = ours["max_num_batched_tokens"]
    # Upstream's rule (#38727): every modality may fill the sequence.
    upstream = dict(
        max_tokens_per_item={"image": MAX_MODEL_LEN, "video": MAX_MODEL_LEN},
        encoder_cache_size=max(batched, MAX_MODEL_LEN),
    )
    print()
    print(
        nano_maxima.table(
            {"pristine v0.19.1": pristine, "upstream rule": upstream, "ours": ours}
        )
    )
    assert ours["max_tokens_per_item"]["image"] == MAX_IMAGE_TOKENS
    # Video length is not bounded by the config: the whole sequence.
    assert ours["max_tokens_per_item"]["video"] == MAX_MODEL_LEN
    assert ours["encoder_cache_size"] == max(batched, MAX_MODEL_LEN)
    # v0.19.1 profiled the same exact image maximum from its dummy image.
    assert pristine["max_tokens_per_item"]["image"] == MAX_IMAGE_TOKENS


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


SERVE_ARGS = [
    "--trust-remote-code",
    "--load-format",
    "dummy",
    "--mm-processor-kwargs",
    json.dumps({"max_num_tiles": MAX_NUM_TILES}),
]


@pytest.fixture(scope="module")
def server(nano: Path) -> Iterator[VLLMServer]:
    with VLLMServer(nano, extra_args=SERVE_ARGS) as srv:
        yield srv


def _png(side_w: int, side_h: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return png_bytes(rng.integers(0, 256, (side_h, side_w, 3), dtype=np.uint8))


def _chat(server: VLLMServer, *parts: dict, **extra: object) -> tuple[int, dict]:
    content = [*parts, {"type": "text", "text": "what?"}]
    body = {
        "model": server.served_name,
        "max_tokens": 4,
        "temperature": 0.0,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }
    return _post(f"{server.api_url}/chat/completions", body)


def test_serve_image_at_the_maximum_and_400_above_limits(server: VLLMServer) -> None:
    # 256 x 256: a 2 x 2 grid of 128 px tiles (the most tiles of 4) + thumbnail.
    at_max = image_part(_png(256, 256))
    small = image_part(_png(64, 64, seed=1))
    status, small_resp = _chat(server, small)
    assert status == 200, small_resp
    status, resp = _chat(server, at_max)
    assert status == 200, resp
    # The image at the maximum has MAX_IMAGE_TOKENS embeddings; the small
    # one is resized to one tile (no thumbnail for a single tile).
    grown = resp["usage"]["prompt_tokens"] - small_resp["usage"]["prompt_tokens"]
    assert grown == MAX_IMAGE_TOKENS - TOKENS_PER_TILE
    # Over the deployment's limit (2 images a prompt): 400 naming it.
    status, err = _chat(server, small, small, small)
    assert status == 400, err
    assert "at most 2 image" in err["error"]["message"].lower()
    assert server.is_alive()
    status, resp = _chat(server, at_max)
    assert status == 200, resp


def test_per_request_max_num_tiles_above_the_server_is_a_400(
    server: VLLMServer,
) -> None:
    at_max = image_part(_png(256, 256))
    status, err = _chat(
        server, at_max, mm_processor_kwargs={"max_num_tiles": 4 * MAX_NUM_TILES}
    )
    assert status == 400, err
    message = err["error"]["message"]
    assert "max_num_tiles" in message and str(4 * MAX_NUM_TILES) in message, message
    assert str(MAX_NUM_TILES) in message, message
    # At or below the server's limit it is honoured: 1 tile, no thumbnail.
    status, one = _chat(server, at_max, mm_processor_kwargs={"max_num_tiles": 1})
    assert status == 200, one
    status, full = _chat(server, at_max)
    assert status == 200, full
    grown = full["usage"]["prompt_tokens"] - one["usage"]["prompt_tokens"]
    assert grown == MAX_IMAGE_TOKENS - TOKENS_PER_TILE
    assert server.is_alive()


def test_unknown_per_request_kwargs_are_dropped(server: VLLMServer) -> None:
    # v0.19.1 passed them to NanoNemotronVLProcessor.__init__, which failed
    # the request with a TypeError; like HF processors, the server now drops
    # them with a warning and applies the ones the processor takes.
    at_max = image_part(_png(256, 256))
    status, one = _chat(server, at_max, mm_processor_kwargs={"max_num_tiles": 1})
    assert status == 200, one
    unknown = {"max_num_tiles": 1, "do_resize": False, "no_such_kwarg": 1}
    status, resp = _chat(server, at_max, mm_processor_kwargs=unknown)
    assert status == 200, resp
    # 1 tile and no thumbnail, as with max_num_tiles alone.
    assert resp["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]
    status, full = _chat(server, at_max, mm_processor_kwargs={"no_such_kwarg": 1})
    assert status == 200, full
    grown = full["usage"]["prompt_tokens"] - one["usage"]["prompt_tokens"]
    assert grown == MAX_IMAGE_TOKENS - TOKENS_PER_TILE
    assert server.is_alive()
