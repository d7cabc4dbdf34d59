"""`vllm serve` with tiny Qwen3-VL and Keye-VL on CPU, driven by the `openai` client.

Starts one server per model on 127.0.0.1 (free port), sends chat
requests with a generated PNG and MP4, checks the response shape, that a
corrupt video is refused with HTTP 400 and a message naming the video, and
that the server keeps serving afterwards. The server is always stopped.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
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

# Keye-VL: its config and processor are remote code (--trust-remote-code),
# and v0.19.1 could not compute the positions of any Keye-VL video.
MODELS = [os.environ.get("E2E_MODEL", "qwen3_vl"), "keye"]
REQUEST_TIMEOUT_S = 180.0
MAX_TOKENS = 8


@pytest.fixture(scope="module", params=MODELS)
def server(request: pytest.FixtureRequest) -> Iterator[VLLMServer]:
    with VLLMServer(request.param) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: VLLMServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.api_url,
        api_key="EMPTY",
        timeout=REQUEST_TIMEOUT_S,
        max_retries=0,
    )


def _chat(client: openai.OpenAI, model: str, content: list[dict[str, object]]):
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": content}],  # type: ignore[misc]
        max_tokens=MAX_TOKENS,
        temperature=0.0,
    )


def _text(text: str) -> dict[str, object]:
    return {"type": "text", "text": text}


QUESTION = "What colour is the square, and where does the other one move?"


def test_models_endpoint_lists_the_served_model(
    server: VLLMServer, client: openai.OpenAI
) -> None:
    ids = [m.id for m in client.models.list().data]
    assert ids == [server.served_name]


def test_chat_with_image_and_video(server: VLLMServer, client: openai.OpenAI) -> None:
    png = png_bytes(square_image("red"))
    mp4 = mp4_bytes(moving_square_frames(num_frames=8))
    text_only = _chat(client, server.served_name, [_text(QUESTION)])
    resp = _chat(
        client,
        server.served_name,
        [image_part(png), video_part(mp4), _text(QUESTION)],
    )

    assert resp.object == "chat.completion"
    assert resp.model == server.served_name
    assert resp.id
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")

    usage = resp.usage
    assert usage is not None
    assert 1 <= usage.completion_tokens <= MAX_TOKENS
    if choice.finish_reason == "length":
        assert usage.completion_tokens == MAX_TOKENS
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # The image and the video were expanded into placeholder tokens: the
    # same question without media is shorter.
    assert text_only.usage is not None
    assert usage.prompt_tokens > text_only.usage.prompt_tokens


def test_greedy_reply_is_deterministic(
    server: VLLMServer, client: openai.OpenAI
) -> None:
    content = [image_part(png_bytes(square_image("green"))), _text(QUESTION)]
    first = _chat(client, server.served_name, content)
    second = _chat(client, server.served_name, content)
    assert first.choices[0].message.content == second.choices[0].message.content


def _corrupt_videos() -> dict[str, bytes]:
    good = mp4_bytes(moving_square_frames(num_frames=8))
    return {
        "random-bytes": bytes(range(256)) * 8,
        "truncated-mp4": good[: len(good) // 3],
    }


@pytest.mark.parametrize("kind", sorted(_corrupt_videos()))
def test_corrupt_video_is_a_400_and_server_keeps_serving(
    server: VLLMServer, client: openai.OpenAI, kind: str
) -> None:
    bad = _corrupt_videos()[kind]
    with pytest.raises(openai.BadRequestError) as excinfo:
        _chat(client, server.served_name, [video_part(bad), _text(QUESTION)])
    err = excinfo.value
    assert err.status_code == 400
    assert "video" in str(err.message).lower(), err.message

    assert server.is_alive()
    with urllib.request.urlopen(f"{server.base_url}/health", timeout=10) as health:
        assert health.status == 200
    # The next request (an image, so this test does not depend on the video
    # path working) is served normally.
    ok = _chat(
        client,
        server.served_name,
        [image_part(png_bytes(square_image("blue"))), _text(QUESTION)],
    )
    assert ok.choices[0].finish_reason in ("stop", "length")
    assert ok.usage is not None and ok.usage.completion_tokens >= 1
