#!/usr/bin/env python3
"""GLM-4.6V / GLMGA video frame selection: v0.19.1 vs patched, CPU time.

    build/venv/bin/python scripts/bench_glm_frames.py [--repeat 10]
        [--pristine build/src/vllm-0.19.1] [--patched build/vllm] [--max-ms 5]

Imports vLLM from the patched tree and loads glm4_1v.py of the pristine tree
side by side under another module name, in one process. For videos of up
to 2 hours at 60 fps (432,000 frames) it times the frame selection of a
request: v0.19.1's `_get_video_second_idx_glm46v` (the GLM-4.6V rule, a
Python loop over every frame), transformers' own `sample_frames` of the
GLM-4.6V and GLMGA video processors, and the patched `sample_frames_glm46v`
/ `sample_frames_glmga` (vectorized). It also times counting the frames of
a streamed WebM (no frame count stored) by decoding versus the patched
`_count_frames`.

Prints a table with the ratio v0.19.1 / patched. Exit status 1 if a patched
selection differs from transformers' or v0.19.1's, or if the patched
selection of the longest video takes more than --max-ms.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _bench import load_module, median_ms

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRISTINE = ROOT / "build" / "src" / "vllm-0.19.1"
DEFAULT_PATCHED = ROOT / "build" / "vllm"
MODELS = "vllm.model_executor.models"
# name -> (frames, fps, duration in s)
VIDEOS = {
    "1 min @ 30 fps": (1_800, 30.0, 60.0),
    "10 min @ 30 fps": (18_000, 30.0, 600.0),
    "1 h @ 30 fps": (108_000, 30.0, 3600.0),
    "2 h @ 60 fps": (432_000, 60.0, 7200.0),
}


def import_vllm_from(tree: Path) -> None:
    """Import `vllm` from `tree`; fail if that gives another copy."""
    sys.path.insert(0, str(tree))
    sys.dont_write_bytecode = True  # the pristine tree may be read-only
    import vllm

    if Path(vllm.__file__).resolve().parents[1] != tree.resolve():
        raise SystemExit(f"vllm imported from {vllm.__file__}, not from {tree}")


def pristine_glm46v_rule(pristine: Path) -> Any:
    """v0.19.1's GLM-4.6V selection, called on a stand-in `self`."""
    from transformers.models.glm46v import Glm46VVideoProcessor

    path = pristine / "vllm" / "model_executor" / "models" / "glm4_1v.py"
    module = load_module(path, f"{MODELS}.glm4_1v_v0_19_1")
    info = SimpleNamespace(get_video_processor=Glm46VVideoProcessor)

    def select(frames: int, fps: float, duration: float) -> list[int]:
        metadata = {"fps": fps, "total_num_frames": frames, "duration": duration}
        return module.Glm4vProcessingInfo._get_video_second_idx_glm46v(
            info, metadata, frames
        )

    return select


def count_rows(repeat: int) -> list[tuple[str, float, float]]:
    """Counting the frames of a 300-frame live WebM: decode vs raw."""
    try:
        import av
        import numpy as np
    except ImportError:
        return []
    from vllm.multimodal.video import GLM4_6VVideoBackend

    buf = io.BytesIO()
    with av.open(buf, "w", format="webm", options={"live": "1"}) as output:
        stream = output.add_stream("libvpx", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(300):
            image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image)):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    data = buf.getvalue()

    def decode_all() -> int:
        cap = GLM4_6VVideoBackend.open_video_capture(data)
        count = 0
        while cap.grab():
            count += 1
        return count

    def raw() -> int:
        return GLM4_6VVideoBackend._count_frames(data)

    if decode_all() != raw():
        raise SystemExit("frame counts differ")
    return [
        (
            "count 300 frames, live WebM",
            median_ms(decode_all, repeat, warmup=1, device="cpu"),
            median_ms(raw, repeat, warmup=1, device="cpu"),
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pristine", type=Path, default=DEFAULT_PRISTINE)
    parser.add_argument("--patched", type=Path, default=DEFAULT_PATCHED)
    parser.add_argument("--repeat", type=int, default=10, help="timed runs (median)")
    parser.add_argument("--max-ms", type=float, default=5.0)
    args = parser.parse_args()
    for tree in (args.pristine, args.patched):
        if not (tree / "vllm" / "model_executor" / "models" / "glm4_1v.py").is_file():
            raise SystemExit(f"{tree}: not a vLLM source tree")

    import_vllm_from(args.patched)
    from transformers.models.glm46v import Glm46VVideoProcessor
    from transformers.models.glmga import GlmgaVideoProcessor
    from transformers.video_utils import VideoMetadata

    from vllm.multimodal.video import sample_frames_glm46v, sample_frames_glmga

    v0191 = pristine_glm46v_rule(args.pristine)
    hf = {"glm46v": Glm46VVideoProcessor(), "glmga": GlmgaVideoProcessor()}
    patched = {"glm46v": sample_frames_glm46v, "glmga": sample_frames_glmga}

    def ms(fn: Any) -> float:
        return median_ms(fn, args.repeat, warmup=1, device="cpu")

    status = 0
    line = "{:<7} {:<16} {:>8} {:>10} {:>9} {:>10} {:>8} {}"
    print(
        line.format(
            "rule", "video", "frames", "v0.19.1", "HF", "patched", "ratio", "same"
        )
    )
    for name, (frames, fps, duration) in VIDEOS.items():
        metadata = VideoMetadata(total_num_frames=frames, fps=fps, duration=duration)
        for rule in ("glm46v", "glmga"):
            ours = patched[rule](frames, fps, duration).tolist()
            same = ours == hf[rule].sample_frames(metadata).tolist()
            old_ms = float("nan")
            if rule == "glm46v":  # v0.19.1 has no GLMGA rule
                same = same and v0191(frames, fps, duration) == [
                    int(i / fps) for i in ours[::2]
                ]
                old_ms = ms(lambda: v0191(frames, fps, duration))
            hf_ms = ms(lambda: hf[rule].sample_frames(metadata))
            new_ms = ms(lambda: patched[rule](frames, fps, duration))
            ratio = old_ms / new_ms if rule == "glm46v" else hf_ms / new_ms
            print(
                line.format(
                    rule,
                    name,
                    frames,
                    f"{old_ms:.2f} ms",
                    f"{hf_ms:.2f} ms",
                    f"{new_ms:.3f} ms",
                    f"{ratio:.0f}x",
                    same,
                )
            )
            if not same or (frames == 432_000 and new_ms > args.max_ms):
                status = 1
    for label, decode_ms, raw_ms in count_rows(args.repeat):
        print(
            f"{label}: decoding {decode_ms:.1f} ms, patched _count_frames "
            f"{raw_ms:.1f} ms ({decode_ms / raw_ms:.0f}x)"
        )
    print("ratio: v0.19.1 / patched (glm46v); HF / patched (glmga, new in the series)")
    if status:
        print(
            f"FAILED: a selection differs, or the 432,000-frame one > {args.max_ms} ms"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
