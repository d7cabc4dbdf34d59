"""Loaded by the `vllm serve` processes of tests/e2e/test_server_glm.py (on
their PYTHONPATH): registers the `e2e_glm_crafted` video backend.

A request's video bytes `CRAFTED<json>` give `{"case": ...}`: the backend
returns the frames and metadata of that malformed input, the way a custom
or buggy video loader would, so that each reaches the processor through
the server. Any other bytes are decoded by the `glm46v` backend.
"""

from __future__ import annotations

import base64
import json
from typing import Any

MARKER = b"CRAFTED"


def _crafted(case: dict[str, Any]) -> tuple[Any, Any]:
    import numpy as np
    from transformers.video_utils import VideoMetadata

    from vllm.multimodal.video import GLM4_6VVideoBackend

    frames = np.full((4, 56, 56, 3), 128, dtype=np.uint8)
    metadata: dict[str, Any] = {
        "total_num_frames": 4,
        "fps": 2.0,
        "duration": 2.0,
        "frames_indices": [0, 1, 2, 3],
        "video_backend": "glm4_6v",
        "do_sample_frames": True,
    }
    kind = case["case"]
    if kind == "zero-frames":
        frames = frames[:0]
    elif kind == "total-above-frames":
        metadata["total_num_frames"] = 8
    elif kind == "no-total-num-frames":
        del metadata["total_num_frames"]
    elif kind == "presampled-without-indices":
        metadata["do_sample_frames"] = False
        del metadata["frames_indices"]
    elif kind == "no-decoded-frame":

        class NothingDecoded(GLM4_6VVideoBackend):
            @classmethod
            def read_frames(cls, cap: Any, frame_idx: list[int], **kwargs: Any):
                return frames[:0], []

        return NothingDecoded.load_bytes(base64.b64decode(case["video"]))
    elif kind == "hf-video-metadata":  # a good input
        del metadata["do_sample_frames"]
        return frames, VideoMetadata(**metadata)
    # GLM-4.1V (Glm4vProcessor): what OpenCV reports for a container without
    # a frame rate (fps 0, duration 0), as a dict, pre-sampled (as by the
    # opencv_dynamic backend) or as a transformers.VideoMetadata
    elif kind.startswith("no-frame-rate"):
        metadata.update(fps=0.0, duration=0.0, video_backend="opencv")
        if kind == "no-frame-rate-presampled":
            frames, metadata["total_num_frames"] = frames[:2], 8
            metadata.update(do_sample_frames=False, frames_indices=[0, 4])
        elif kind == "no-frame-rate-hf-video-metadata":
            del metadata["do_sample_frames"]
            return frames, VideoMetadata(**metadata)
    elif kind == "metadata-not-a-mapping":
        return frames, [4, 2.0]
    # GLM-4.1V: a real video decoded by vLLM's default `opencv` backend (all
    # frames, do_sample_frames=True) or by `opencv_dynamic` (GLM-4.1V's rule,
    # pre-sampled), e.g. a clip shorter than a sample period
    elif kind in ("opencv", "opencv_dynamic"):
        from vllm.multimodal.video import VIDEO_LOADER_REGISTRY

        loader = VIDEO_LOADER_REGISTRY.load(kind)
        return loader.load_bytes(base64.b64decode(case["video"]))
    # GLM-4.1V: pre-sampled frames whose frames_indices repeat
    elif kind == "repeated-frames-indices":
        metadata.update(
            total_num_frames=16, fps=4.0, duration=4.0, video_backend="opencv"
        )
        metadata.update(do_sample_frames=False, frames_indices=[0, 0, 8, 8])
    else:
        raise AssertionError(f"unknown case {kind!r}")
    return frames, metadata


def _register() -> None:
    try:
        from vllm.multimodal.video import VIDEO_LOADER_REGISTRY, GLM4_6VVideoBackend
    except ImportError:  # not a vLLM process
        return

    @VIDEO_LOADER_REGISTRY.register("e2e_glm_crafted")
    class CraftedVideoBackend(GLM4_6VVideoBackend):
        @classmethod
        def load_bytes(cls, data: bytes, **kwargs: Any) -> tuple[Any, Any]:
            if data.startswith(MARKER):
                return _crafted(json.loads(data[len(MARKER) :]))
            return super().load_bytes(data, **kwargs)


_register()
