#!/usr/bin/env python3
"""Start the tiny server, send one chat request with an image and a video.

    python scripts/demo.py [--model qwen3_vl] [--max-tokens 16]

The image (PNG) and the video (MP4) are generated here and sent as data URLs
to the OpenAI-compatible /v1/chat/completions endpoint. The reply and the
token usage are printed; the server is stopped in every case.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mm_media import (  # noqa: E402
    image_part,
    moving_square_frames,
    mp4_bytes,
    png_bytes,
    square_image,
    video_part,
)
from serve import DEFAULT_MODEL, ServerError, VLLMServer  # noqa: E402

REQUEST_TIMEOUT_S = 300.0


def chat_request(model: str, max_tokens: int) -> dict[str, Any]:
    png = png_bytes(square_image("red"))
    mp4 = mp4_bytes(moving_square_frames(num_frames=8, colour="blue"))
    return {
        "model": model,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "messages": [
            {
                "role": "user",
                "content": [
                    image_part(png),
                    video_part(mp4),
                    {
                        "type": "text",
                        "text": "What colour is the square in the image, "
                        "and where does the square in the video move?",
                    },
                ],
            }
        ],
    }


def post_json(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        raise RuntimeError(f"HTTP {e.code} from {url}: {detail}") from e


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("MODEL", DEFAULT_MODEL))
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    t0 = time.monotonic()
    server = VLLMServer(args.model)
    print(f"starting: {' '.join(server.cmd)}\nlog: {server.log_path}", flush=True)
    try:
        with server:
            t_ready = time.monotonic()
            print(f"server ready at {server.api_url} in {t_ready - t0:.0f} s")
            body = chat_request(server.served_name, args.max_tokens)
            resp = post_json(
                f"{server.api_url}/chat/completions", body, REQUEST_TIMEOUT_S
            )
            took = time.monotonic() - t_ready
    except (ServerError, RuntimeError, OSError) as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; server stopped", file=sys.stderr)
        return 130
    print(f"server stopped (request took {took:.1f} s)\n")
    choice = resp["choices"][0]
    print("reply:", json.dumps(choice["message"]["content"], ensure_ascii=False))
    print("finish_reason:", choice["finish_reason"])
    print("usage:", json.dumps(resp["usage"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
