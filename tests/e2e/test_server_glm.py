"""`vllm serve` with the tiny GLM-4.6V checkpoint: malformed videos are
refused with HTTP 400 naming the video and what is wrong, and the server
answers the next request.

The malformed inputs come from the `e2e_glm_crafted` video backend
(glm_video_plugin/sitecustomize.py on the server's PYTHONPATH), which
returns each input the way a custom or buggy video loader would; real
videos go through the `glm46v` backend. One server for the module.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from mm_media import (  # noqa: E402
    image_part,
    moving_square_frames,
    mp4_bytes,
    png_bytes,
    square_image,
    video_part,
)
from serve import VLLMServer  # noqa: E402

openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

PLUGIN_DIR = Path(__file__).resolve().parent / "glm_video_plugin"
QUESTION = "What moves in the video?"


@contextmanager
def crafted_video_server(tiny_model, name: str) -> Iterator[VLLMServer]:
    """`vllm serve` of tiny checkpoint `name` (built if needed) with the
    `e2e_glm_crafted` video backend of PLUGIN_DIR."""
    tiny_model(name)
    pythonpath = os.pathsep.join(
        p for p in (str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {"PYTHONPATH": pythonpath, "VLLM_VIDEO_LOADER_BACKEND": "e2e_glm_crafted"}
    with VLLMServer(name, env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def server(tiny_model) -> Iterator[VLLMServer]:
    with crafted_video_server(tiny_model, "glm4_6v") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: VLLMServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.api_url, api_key="EMPTY", timeout=180.0, max_retries=0
    )


def _chat(client: openai.OpenAI, model: str, video: bytes):
    content = [video_part(video), {"type": "text", "text": QUESTION}]
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": content}],  # type: ignore[misc]
        max_tokens=4,
        temperature=0.0,
    )


def crafted(case: str, **fields: object) -> bytes:
    return b"CRAFTED" + json.dumps({"case": case, **fields}).encode()


def good_mp4() -> bytes:
    return mp4_bytes(moving_square_frames(num_frames=8))


# case -> what the 400 must say
BAD_VIDEOS = {
    "zero-frames": "Video 0 has no frames",
    "total-above-frames": "Video 0 has 4 frames but its metadata says "
    "total_num_frames=8",
    "no-total-num-frames": "Video 0 has no valid total_num_frames",
    "presampled-without-indices": "Video 0 is pre-sampled "
    "(do_sample_frames=False) but has no frames_indices",
    "no-decoded-frame": "Could not decode any of the",
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_video_is_a_400_and_server_keeps_serving(
    server: VLLMServer, client: openai.OpenAI, case: str
) -> None:
    video = crafted(case, video=base64.b64encode(good_mp4()).decode())
    # v0.19.1's API server closes the connection of a request that raised
    # (after answering 400): a client of its own, so that no later request
    # reuses that connection.
    with (
        openai.OpenAI(
            base_url=server.api_url, api_key="EMPTY", timeout=180.0, max_retries=0
        ) as own_client,
        pytest.raises(openai.BadRequestError) as excinfo,
    ):
        _chat(own_client, server.served_name, video)
    assert excinfo.value.status_code == 400
    assert BAD_VIDEOS[case] in str(excinfo.value.message), excinfo.value.message

    assert server.is_alive()
    ok = client.chat.completions.create(
        model=server.served_name,
        messages=[
            {
                "role": "user",
                "content": [
                    image_part(png_bytes(square_image("blue"))),
                    {"type": "text", "text": QUESTION},
                ],
            }
        ],  # type: ignore[misc]
        max_tokens=4,
        temperature=0.0,
    )
    assert ok.usage is not None and ok.usage.completion_tokens >= 1


@pytest.mark.parametrize("video", ["hf-video-metadata", "mp4"])
def test_good_videos_are_answered(
    server: VLLMServer, client: openai.OpenAI, video: str
) -> None:
    """Metadata as a transformers.VideoMetadata object is accepted; a real
    MP4 goes through the glm46v backend."""
    data = good_mp4() if video == "mp4" else crafted(video)
    resp = _chat(client, server.served_name, data)
    assert resp.usage is not None and resp.usage.completion_tokens >= 1
