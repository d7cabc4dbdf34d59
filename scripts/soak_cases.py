"""The requests of the server soak test: good ones and bad ones, with what
each must get back.

Every request is built fresh from a seeded RNG (new pixels, sizes and frame
counts each time), so that no two good requests carry the same media and the
server runs its whole media path for each of them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from mm_media import data_url, image_part, mp4_bytes, png_bytes, video_part

Part = dict[str, Any]
QUESTION = "What colour is the square, and where does it move?"
# The server's limits the bad requests go beyond (see serve.serve_command).
MAX_IMAGES_PER_PROMPT = 2
UNKNOWN_PART_TYPE = "hologram_url"


@dataclass(frozen=True)
class Case:
    """A kind of request: how to build its content, and the answer it must get.

    `status` 200 means answered with a completion; otherwise the HTTP status
    of the error, whose message must contain every string of `words`
    (compared in lower case).
    """

    name: str
    build: Callable[[random.Random], list[Part]]
    status: int = 200
    words: tuple[str, ...] = ()

    @property
    def good(self) -> bool:
        return self.status == 200


def _text(text: str) -> Part:
    return {"type": "text", "text": text}


def _noise_image(rng: random.Random) -> npt.NDArray[np.uint8]:
    """An RGB image of random size (32..320 px a side) and random pixels."""
    h, w = rng.randrange(32, 321, 8), rng.randrange(32, 321, 8)
    gen = np.random.default_rng(rng.getrandbits(32))
    return gen.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _noise_video(rng: random.Random) -> bytes:
    """An MP4 of 4..16 random frames, 32..128 px a side."""
    t = rng.randrange(4, 17)
    h, w = rng.randrange(32, 129, 16), rng.randrange(32, 129, 16)
    gen = np.random.default_rng(rng.getrandbits(32))
    frames = gen.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
    return mp4_bytes(frames, fps=rng.choice((2, 4, 8)))


def _image(rng: random.Random) -> list[Part]:
    return [image_part(png_bytes(_noise_image(rng))), _text(QUESTION)]


def _two_images(rng: random.Random) -> list[Part]:
    return [
        image_part(png_bytes(_noise_image(rng))),
        image_part(png_bytes(_noise_image(rng))),
        _text(QUESTION),
    ]


def _video(rng: random.Random) -> list[Part]:
    return [video_part(_noise_video(rng)), _text(QUESTION)]


def _image_and_video(rng: random.Random) -> list[Part]:
    return [
        image_part(png_bytes(_noise_image(rng))),
        video_part(_noise_video(rng)),
        _text(QUESTION),
    ]


def _text_only(rng: random.Random) -> list[Part]:
    return [_text(f"{QUESTION} ({rng.randrange(1000)})")]


def _corrupt_image(rng: random.Random) -> list[Part]:
    # A PNG signature followed by garbage: no decoder can read it.
    junk = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randrange(16, 4096))
    return [image_part(junk), _text(QUESTION)]


def _truncated_video(rng: random.Random) -> list[Part]:
    good = _noise_video(rng)
    return [video_part(good[: rng.randrange(16, len(good) // 3)]), _text(QUESTION)]


def _too_many_images(rng: random.Random) -> list[Part]:
    n = MAX_IMAGES_PER_PROMPT + 1
    return [*(image_part(png_bytes(_noise_image(rng))) for _ in range(n)), _text("?")]


def _too_long_prompt(rng: random.Random) -> list[Part]:
    # Far more tokens than --max-model-len (4096), whatever the tokenizer.
    return [_text(" ".join(rng.choice(("red", "blue", "7")) for _ in range(6000)))]


def _audio_for_vision_model(rng: random.Random) -> list[Part]:
    wav = b"RIFF" + rng.randbytes(64)
    url = data_url("audio/wav", wav)
    return [{"type": "audio_url", "audio_url": {"url": url}}, _text(QUESTION)]


def _unknown_part_type(rng: random.Random) -> list[Part]:
    part = {"type": UNKNOWN_PART_TYPE, UNKNOWN_PART_TYPE: {"url": "x"}}
    return [part, _text(QUESTION)]


GOOD_CASES: tuple[Case, ...] = (
    Case("image", _image),
    Case("two-images", _two_images),
    Case("video", _video),
    Case("image+video", _image_and_video),
    Case("text", _text_only),
)
BAD_CASES: tuple[Case, ...] = (
    Case("corrupt-image", _corrupt_image, 400, ("image",)),
    Case("truncated-video", _truncated_video, 400, ("video",)),
    Case(
        "too-many-images",
        _too_many_images,
        400,
        (f"at most {MAX_IMAGES_PER_PROMPT} image",),
    ),
    Case("too-long-prompt", _too_long_prompt, 400, ("maximum context length",)),
    Case("audio-to-vision-model", _audio_for_vision_model, 400, ("audio",)),
    Case("unknown-part-type", _unknown_part_type, 400, (UNKNOWN_PART_TYPE,)),
)
CASES: tuple[Case, ...] = GOOD_CASES + BAD_CASES
# Two good requests for each bad one.
WEIGHTS: tuple[float, ...] = tuple(
    2.0 / len(GOOD_CASES) if c.good else 1.0 / len(BAD_CASES) for c in CASES
)


def schedule(n: int, seed: int) -> list[Case]:
    """`n` cases: every case once first (when n allows), then a weighted mix."""
    if n < 1:
        raise ValueError(f"the number of requests must be >= 1, got {n}")
    rng = random.Random(seed)
    first = list(CASES[:n])
    return first + rng.choices(CASES, weights=WEIGHTS, k=n - len(first))
