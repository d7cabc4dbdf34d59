"""Kimi-K2.5 vision-chunk image processor, as the Kimi-K2.5 checkpoints ship it
as remote code, written for the tiny test checkpoints of vllm-mm-patches.

The contract is what vLLM's kimi_k25.py and its KimiK25Processor use:
`preprocess(vision_chunks, return_tensors=...)` returns `pixel_values`
(all patches of all chunks, `(N, 3, patch, patch)`, in (t, h, w) order) and
`grid_thws` (`(B, 3)` patches per chunk), `media_tokens_calculator(chunk)`
gives the number of placeholder tokens of a chunk (after the 2 x 2 patch
merge and the temporal pooling of a video chunk), `num_frames_per_chunk` the
frames of a video chunk. A chunk is `{"type": "image", "image": PIL image}` or
`{"type": "video_chunk", "video_chunk": [PIL images]}`.

Resizing: each side to a multiple of patch * merge (28 px), the whole image
within `in_patch_limit` patches, keeping the aspect ratio.
"""

import math

import numpy as np
import torch
from transformers import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor


class KimiK25VisionProcessor(BaseImageProcessor):
    model_input_names = ["pixel_values", "grid_thws"]

    def __init__(
        self,
        patch_size=14,
        merge_kernel_size=(2, 2),
        in_patch_limit=256,
        num_frames_per_chunk=4,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.merge_kernel_size = list(merge_kernel_size)
        self.in_patch_limit = in_patch_limit
        self.num_frames_per_chunk = num_frames_per_chunk
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)

    def _grid_hw(self, width, height):
        """(h, w) in patches: multiples of the merge kernel, within the limit."""
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        kh, kw = self.merge_kernel_size
        p = self.patch_size
        scale = min(1.0, math.sqrt(self.in_patch_limit * p * p / (width * height)))
        h = max(kh, int(height * scale / (p * kh)) * kh)
        w = max(kw, int(width * scale / (p * kw)) * kw)
        while h * w > self.in_patch_limit:  # very elongated images
            if h >= w:
                h -= kh
            else:
                w -= kw
        return h, w

    def _frames(self, chunk):
        kind = chunk.get("type")
        if kind == "image":
            return [chunk["image"]]
        if kind == "video_chunk":
            frames = list(chunk["video_chunk"])
            if not 1 <= len(frames) <= self.num_frames_per_chunk:
                raise ValueError(
                    f"a video chunk has 1 to {self.num_frames_per_chunk} frames, "
                    f"got {len(frames)}"
                )
            return frames
        raise ValueError(f"unknown vision chunk type {kind!r}")

    def _grid_thw(self, chunk):
        frames = self._frames(chunk)
        width, height = frames[0].size
        h, w = self._grid_hw(width, height)
        return len(frames), h, w

    def media_tokens_calculator(self, chunk):
        _, h, w = self._grid_thw(chunk)
        kh, kw = self.merge_kernel_size
        return (h // kh) * (w // kw)

    def _patches(self, frames, h, w):
        p = self.patch_size
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        out = []
        for frame in frames:
            img = frame.convert("RGB").resize((w * p, h * p), resample=3)  # bicubic
            x = (np.asarray(img, dtype=np.float32) / 255.0 - mean) / std
            # (h*p, w*p, 3) -> (h, w, 3, p, p) -> (h*w, 3, p, p)
            x = x.reshape(h, p, w, p, 3).transpose(0, 2, 4, 1, 3)
            out.append(x.reshape(h * w, 3, p, p))
        return np.concatenate(out, axis=0)

    def preprocess(self, vision_chunks, return_tensors=None, **kwargs):
        pixels, grids = [], []
        for chunk in vision_chunks:
            t, h, w = self._grid_thw(chunk)
            pixels.append(self._patches(self._frames(chunk), h, w))
            grids.append([t, h, w])
        data = {
            "pixel_values": torch.from_numpy(np.concatenate(pixels, axis=0)),
            "grid_thws": torch.tensor(grids, dtype=torch.int64),
        }
        return BatchFeature(data=data, tensor_type=return_tensors)
