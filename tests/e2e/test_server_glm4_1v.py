"""`vllm serve` with the tiny GLM-4.1V checkpoint (Glm4vProcessor): a video
without a frame rate (fps 0 and duration 0, what OpenCV reports for such a
container; as a dict, pre-sampled, or as a transformers.VideoMetadata) is
answered, metadata of another type is refused with HTTP 400 naming the
video, and the server answers the next request. A real clip shorter than
the sampling period (decoded by the default `opencv` backend, or sampled
by `opencv_dynamic`) and pre-sampled frames whose frames_indices repeat
are answered too.

OpenCV's FFmpeg backend never reports fps 0 for a real file (it falls back
to the stream's time base), so the inputs come from the `e2e_glm_crafted`
video backend (glm_video_plugin/sitecustomize.py), the way a custom video
loader returns them. One server for the module.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mm_media import moving_square_frames, mp4_bytes  # noqa: E402
from serve import VLLMServer  # noqa: E402
from test_server_glm import _chat, crafted, crafted_video_server  # noqa: E402

openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def server(tiny_model) -> Iterator[VLLMServer]:
    with crafted_video_server(tiny_model, "glm4_1v") as srv:
        yield srv


def _client(server: VLLMServer) -> openai.OpenAI:
    # v0.19.1's API server closes the connection of a request that raised
    # (after answering 400): a client per request, no connection reused.
    return openai.OpenAI(
        base_url=server.api_url, api_key="EMPTY", timeout=180.0, max_retries=0
    )


def test_videos_without_a_frame_rate(server: VLLMServer) -> None:
    """v0.19.1: HTTP 400 "Failed to apply Glm4vProcessor" (a ZeroDivisionError
    or NaN inside transformers) or 500 (AttributeError on VideoMetadata)."""
    for case in (
        "no-frame-rate",
        "no-frame-rate-presampled",
        "no-frame-rate-hf-video-metadata",
    ):
        with _client(server) as client:
            resp = _chat(client, server.served_name, crafted(case))
        assert resp.usage is not None and resp.usage.completion_tokens >= 1, case


def test_metadata_of_another_type_is_a_400(server: VLLMServer) -> None:
    with (
        _client(server) as client,
        pytest.raises(openai.BadRequestError) as excinfo,
    ):
        _chat(client, server.served_name, crafted("metadata-not-a-mapping"))
    assert excinfo.value.status_code == 400
    message = str(excinfo.value.message)
    assert "Video 0 has metadata of type list" in message, message

    assert server.is_alive()
    with _client(server) as client:
        resp = _chat(client, server.served_name, crafted("no-frame-rate"))
    assert resp.usage is not None and resp.usage.completion_tokens >= 1


def _short_clip(backend: str) -> Callable[[], bytes]:
    """2 frames at 30 fps, decoded by `backend`."""

    def make() -> bytes:
        mp4 = mp4_bytes(moving_square_frames(num_frames=2), fps=30)
        return crafted(backend, video=base64.b64encode(mp4).decode())

    return make


@pytest.mark.parametrize(
    "video",
    [
        pytest.param(_short_clip("opencv"), id="clip-shorter-than-a-sample-period"),
        # v0.19.1: HTTP 400 "max() arg is an empty sequence" from the backend
        pytest.param(_short_clip("opencv_dynamic"), id="short-clip-opencv-dynamic"),
        pytest.param(lambda: crafted("repeated-frames-indices"), id="repeated-indices"),
    ],
)
def test_video_sampled_like_hf(server: VLLMServer, video: Callable[[], bytes]) -> None:
    """v0.19.1: HTTP 500 and the engine dead ("placeholder has 0 embedding
    ranges"): the placeholder took no frame of a clip shorter than the
    sampling period (Glm4vVideoProcessor.sample_frames takes one) and
    dropped repeated pre-sampled frames_indices (Glm4vProcessor keeps them)."""
    with _client(server) as client:
        resp = _chat(client, server.served_name, video())
    assert resp.usage is not None and resp.usage.completion_tokens >= 1
