"""Keye-VL / Keye-VL-1.5 through `vllm.LLM` in one vLLM tree (a child process).

    python tests/e2e/keye_engine.py --tree build/pristine --models-dir DIR --out OUT.json

Imports vLLM from `--tree` (PYTHONPATH set by the caller; checked), and for
each tiny Keye checkpoint starts one `LLM`, generates every case of
`cases(model)` greedily in one `generate` call and writes, per case, the
prompt token ids, the generated tokens, their top-k logprobs and the M-RoPE
positions the engine computed for the prompt.

The positions are recorded inside the engine: a hook installed with
`collective_rpc` wraps the loaded model's `get_mrope_input_positions`, the
method the model runner calls for every new request. If that method raises
(v0.19.1 on Keye-VL videos), the hook records the exception and hands the
runner plain text positions instead, so that one engine can run every case;
without the hook the engine core dies on the first such request.

The cases and media are defined here so that the test (tests/e2e/
test_keye_engine.py) and both child processes use the very same inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 6
NUM_LOGPROBS = 5
MAX_MODEL_LEN = 4096
MODELS = ("keye", "keye_vl1_5")
# Per-prompt limits: Keye-VL-1.5 accepts one video (get_supported_mm_limits
# at v0.19.1 and in the series).
MM_LIMITS = {
    "keye": {"image": 2, "video": 2},
    "keye_vl1_5": {"image": 2, "video": 1},
}
LONG_VIDEO_FRAMES = 48  # 48 frames x 8x8 merged patches = 3072 video tokens

# ---------------------------------------------------------------------------
# Media and cases
# ---------------------------------------------------------------------------


def image(width: int, height: int, rgb: tuple[int, int, int]) -> Any:
    from PIL import Image

    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    frame[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = rgb
    return Image.fromarray(frame)


def video(
    num_frames: int, height: int, width: int, rgb: tuple[int, int, int]
) -> np.ndarray:
    """(T, H, W, 3) uint8: a square moving left to right."""
    frames = np.full((num_frames, height, width, 3), 255, dtype=np.uint8)
    side = height // 2
    for t in range(num_frames):
        x = (width - side) * t // max(num_frames - 1, 1)
        frames[t, height // 4 : height // 4 + side, x : x + side] = rgb
    return frames


@dataclass(frozen=True)
class Case:
    """One user turn: text, images and videos in order (str | PIL image | array)."""

    name: str
    content: tuple[Any, ...]
    fps: float = 2.0  # Keye-VL-1.5 frame timestamps: frame / fps seconds
    fast_frames: bool = False  # Keye-VL-1.5: every other frame a "fast" frame

    @property
    def images(self) -> list[Any]:
        return [c for c in self.content if not isinstance(c, (str, np.ndarray))]

    @property
    def videos(self) -> list[np.ndarray]:
        return [c for c in self.content if isinstance(c, np.ndarray)]

    def messages(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for c in self.content:
            if isinstance(c, str):
                items.append({"type": "text", "text": c})
            elif isinstance(c, np.ndarray):
                items.append({"type": "video"})
            else:
                items.append({"type": "image"})
        return [{"role": "user", "content": items}]

    def mm_processor_kwargs(self) -> dict[str, Any]:
        """Keye-VL-1.5's per-video frame timestamps (and frame types)."""
        kwargs: dict[str, Any] = {
            "timestamps": [[i / self.fps for i in range(len(v))] for v in self.videos]
        }
        if self.fast_frames:
            kwargs["frame_types"] = [
                [i % 2 for i in range(len(v))] for v in self.videos
            ]
        return kwargs


def cases(model: str) -> list[Case]:
    """The prompts of `model`; two videos only where the model takes two."""
    out = [
        Case("image", (image(128, 96, (220, 20, 20)), "What colour is the square?")),
        Case(
            "video",
            (video(8, 64, 96, (20, 40, 220)), "Where does it move?"),
            fast_frames=True,
        ),
        Case(
            "two_videos",
            (
                video(4, 64, 64, (220, 20, 20)),
                "and",
                video(6, 96, 64, (20, 180, 20)),
                "Which video is longer?",
            ),
        ),
        Case(
            "interleaved",
            (
                "First",
                image(96, 96, (20, 40, 220)),
                "then",
                video(4, 64, 96, (235, 220, 20)),
                "and last",
                image(64, 128, (20, 180, 20)),
                "Describe them in order.",
            ),
        ),
        Case(
            "long_video",
            (video(LONG_VIDEO_FRAMES, 224, 224, (220, 20, 220)), "What happens?"),
            fps=4.0,
        ),
    ]
    max_videos = MM_LIMITS[model]["video"]
    return [c for c in out if len(c.videos) <= max_videos]


# ---------------------------------------------------------------------------
# Child process
# ---------------------------------------------------------------------------


def _install_mrope_hook(worker: Any) -> None:
    """Runs in the engine core: record every get_mrope_input_positions call."""
    import torch

    model = worker.model_runner.get_model()
    original = model.get_mrope_input_positions
    records: list[dict[str, Any]] = []

    def hooked(input_tokens: list[int], mm_features: list[Any]) -> Any:
        try:
            positions, delta = original(input_tokens, mm_features)
        except Exception as exc:  # v0.19.1 on Keye-VL videos
            records.append(
                {
                    "prompt_ids": list(input_tokens),
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            n = len(input_tokens)
            return torch.arange(n).expand(3, n).clone(), 0
        records.append(
            {
                "prompt_ids": list(input_tokens),
                "positions": torch.as_tensor(positions).tolist(),
                "delta": int(delta),
            }
        )
        return positions, delta

    model.get_mrope_input_positions = hooked
    worker.keye_mrope_records = records


def _fetch_mrope_records(worker: Any) -> list[dict[str, Any]]:
    return list(worker.keye_mrope_records)


def run_model(name: str, path: Path) -> dict[str, Any]:
    from transformers import AutoProcessor
    from vllm import LLM, SamplingParams

    processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
    model_cases = cases(name)
    t0 = time.monotonic()
    llm = LLM(
        model=str(path),
        trust_remote_code=True,
        dtype="float32",
        max_model_len=MAX_MODEL_LEN,
        max_num_batched_tokens=MAX_MODEL_LEN,
        max_num_seqs=4,
        limit_mm_per_prompt=MM_LIMITS[name],
        enforce_eager=True,  # torch.compile would add minutes per model
        seed=0,
    )
    t_ready = time.monotonic()
    try:
        llm.collective_rpc(_install_mrope_hook)
        prompts = []
        for case in model_cases:
            mm_data: dict[str, Any] = {}
            if case.images:
                mm_data["image"] = case.images
            if case.videos:
                mm_data["video"] = case.videos
            prompt: dict[str, Any] = {
                "prompt": processor.apply_chat_template(
                    case.messages(), add_generation_prompt=True, tokenize=False
                ),
                "multi_modal_data": mm_data,
            }
            if name == "keye_vl1_5" and case.videos:
                prompt["mm_processor_kwargs"] = case.mm_processor_kwargs()
            prompts.append(prompt)
        params = SamplingParams(
            temperature=0.0, max_tokens=MAX_TOKENS, logprobs=NUM_LOGPROBS
        )
        outputs = llm.generate(prompts, params, use_tqdm=False)
        t_done = time.monotonic()
        [records] = llm.collective_rpc(_fetch_mrope_records)
    finally:
        llm.llm_engine.engine_core.shutdown()
        del llm

    by_prompt = {tuple(r["prompt_ids"]): r for r in records}
    results: dict[str, Any] = {}
    for case, out in zip(model_cases, outputs, strict=True):
        completion = out.outputs[0]
        record = by_prompt.get(tuple(out.prompt_token_ids), {})
        results[case.name] = {
            "prompt_ids": list(out.prompt_token_ids),
            "token_ids": list(completion.token_ids),
            "logprobs": [
                sorted([tok, lp.logprob] for tok, lp in step.items())
                for step in completion.logprobs
            ],
            "positions": record.get("positions"),
            "delta": record.get("delta"),
            "error": record.get("error"),
            "hooked": bool(record),
        }
    return {
        "startup_s": round(t_ready - t0, 1),
        "generate_s": round(t_done - t_ready, 1),
        "cases": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", action="append", choices=MODELS)
    args = parser.parse_args(argv)

    import vllm

    vllm_file = Path(vllm.__file__).resolve()
    if not vllm_file.is_relative_to(args.tree.resolve()):
        raise SystemExit(f"imported vllm from {vllm_file}, expected under {args.tree}")
    result: dict[str, Any] = {"vllm_file": str(vllm_file), "models": {}}
    for name in args.model or MODELS:
        result["models"][name] = run_model(name, args.models_dir / name)
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")  # collective_rpc
    sys.exit(main())
