#!/usr/bin/env python3
"""Smoke run of the installed (patched) vLLM on CPU with a tiny Qwen3-VL.

Builds the tiny random-weight checkpoint if needed (scripts/tiny_models.py,
no model hub), then generates a few tokens for a text prompt and an image
prompt (and a video prompt with --video) through `vllm.LLM`, greedy, and
prints prompt and output.
The output text is gibberish (random weights); the point is that the
engine starts, runs the vision encoder and decodes.

    build/venv/bin/python scripts/smoke.py [--model-dir build/models/qwen3_vl]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_models import make_model  # noqa: E402


def _image() -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (128, 96), "white")
    ImageDraw.Draw(img).rectangle((32, 24, 96, 72), fill="red")
    return img


def _video() -> tuple[Any, dict[str, Any]]:
    """8 frames at 4 fps of a blue square moving left to right, with metadata."""
    import numpy as np

    frames = np.full((8, 96, 128, 3), 255, dtype=np.uint8)
    for t in range(8):
        x = 8 + 12 * t
        frames[t, 32:64, x : x + 32] = (0, 0, 255)
    metadata = {
        "fps": 4.0,
        "duration": 2.0,
        "total_num_frames": 8,
        "frames_indices": list(range(8)),
        "video_backend": "opencv",
        "do_sample_frames": False,
    }
    return frames, metadata


def _prompt(content: str) -> str:
    return f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-dir", type=Path, default=ROOT / "build" / "models" / "qwen3_vl"
    )
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument(
        "--video",
        action="store_true",
        help=(
            "also send a video prompt (v0.19.1's Qwen3-VL video path fails "
            "under transformers 5.23, whose processors reject <|video_pad|> "
            "text without videos)"
        ),
    )
    args = parser.parse_args()

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    model = make_model("qwen3_vl", args.model_dir)

    from vllm import LLM, SamplingParams

    start = time.monotonic()
    llm = LLM(
        model=str(model),
        dtype="float32",
        max_model_len=2048,
        max_num_seqs=2,
        limit_mm_per_prompt={"image": 1, "video": 1},
        seed=0,
        # torch.compile tracing takes ~2 minutes on 2 cores; eager starts in ~20 s
        enforce_eager=True,
    )
    vs = "<|vision_start|>"
    ve = "<|vision_end|>"
    requests: list[dict[str, Any]] = [
        {"prompt": _prompt("Say hello to the world.")},
        {
            "prompt": _prompt(f"{vs}<|image_pad|>{ve}What colour is the square?"),
            "multi_modal_data": {"image": _image()},
        },
    ]
    if args.video:
        requests.append(
            {
                "prompt": _prompt(f"{vs}<|video_pad|>{ve}Where does the square move?"),
                "multi_modal_data": {"video": _video()},
            }
        )
    params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    outputs = llm.generate(requests, params)
    for request, output in zip(requests, outputs):
        media = ", ".join(sorted(request.get("multi_modal_data", {}))) or "text only"
        completion = output.outputs[0]
        print(f"--- [{media}] prompt ({len(output.prompt_token_ids)} tokens):")
        print(request["prompt"].rstrip("\n"))
        print(f"--- output ({len(completion.token_ids)} tokens): {completion.text!r}")
        print(f"    token ids: {list(completion.token_ids)}")
        if not completion.token_ids:
            print("smoke: FAILED, no tokens generated", file=sys.stderr)
            return 1
    print(
        f"smoke: OK ({len(outputs)} requests, {time.monotonic() - start:.1f}s incl. startup)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
