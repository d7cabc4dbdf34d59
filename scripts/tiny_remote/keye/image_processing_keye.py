"""Keye-VL image/video processor (remote code of the tiny checkpoints).

Written for the offline tiny checkpoints of vllm-mm-patches from the
contract vLLM's `keye.py` / `keye_vl1_5.py` read, not the hub's file:

* `size = {"min_pixels", "max_pixels"}`, `patch_size`, `merge_size` and a
  temporal patch of 1: an image (or every frame of a video) is resized with
  `smart_resize` to multiples of `patch_size * merge_size` whose area lies
  within [min_pixels, max_pixels], keeping the aspect ratio;
* `pixel_values` / `pixel_values_videos` hold one `(3, patch, patch)` patch
  per row, in raster order (row by row, per frame), which is the order
  Keye's projector merges 2x2 blocks in;
* `image_grid_thw` is `[1, h, w]` per image (h, w in patches);
  `video_grid_thw` is `[frames, h, w]` per video (Keye-VL), or `[1, h, w]`
  per frame with `num_frames` per video when `split_video_frames` is set
  (Keye-VL-1.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_ASPECT_RATIO = 200


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(height, width) rounded to multiples of `factor`, area within
    [min_pixels, max_pixels], aspect ratio kept as well as possible."""
    if height < 1 or width < 1:
        raise ValueError(f"image of {height}x{width} pixels has no area")
    if height < factor:
        width, height = round(width * factor / height), factor
    if width < factor:
        height, width = round(height * factor / width), factor
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, "
            f"got {max(height, width) / min(height, width):.1f}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        # at least one factor: a long thin image must not lose a side
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _to_hwc_uint8(item: Any, what: str) -> np.ndarray:
    """One image as an (H, W, 3) uint8 array; `what` names it in errors."""
    if isinstance(item, Image.Image):
        return np.asarray(item.convert("RGB"))
    array = item.numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(
            f"{what} must be an RGB image of shape (H, W, 3), got shape "
            f"{tuple(array.shape)}"
        )
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return array


class KeyeImageProcessor(BaseImageProcessor):
    """Resize, normalize and cut images and video frames into patches."""

    model_input_names = [
        "pixel_values",
        "image_grid_thw",
        "pixel_values_videos",
        "video_grid_thw",
    ]

    def __init__(
        self,
        size: dict[str, int] | None = None,
        patch_size: int = 14,
        merge_size: int = 2,
        temporal_patch_size: int = 1,
        image_mean: Sequence[float] = OPENAI_CLIP_MEAN,
        image_std: Sequence[float] = OPENAI_CLIP_STD,
        rescale_factor: float = 1 / 255,
        split_video_frames: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        size = dict(size or {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 1280})
        if temporal_patch_size != 1:
            raise ValueError("Keye's vision tower takes one frame per temporal patch")
        self._check_size(size)
        self.size = size
        self.patch_size = patch_size
        self.merge_size = merge_size
        self.temporal_patch_size = temporal_patch_size
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.rescale_factor = rescale_factor
        self.split_video_frames = split_video_frames

    @staticmethod
    def _check_size(size: dict[str, int]) -> None:
        if not {"min_pixels", "max_pixels"} <= size.keys():
            raise ValueError(f"size needs min_pixels and max_pixels, got {size}")
        if not 0 < size["min_pixels"] <= size["max_pixels"]:
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {size}")

    def resized_size(
        self, height: int, width: int, size: dict[str, int] | None = None
    ) -> tuple[int, int]:
        size = size or self.size
        return smart_resize(
            height,
            width,
            factor=self.patch_size * self.merge_size,
            min_pixels=size["min_pixels"],
            max_pixels=size["max_pixels"],
        )

    def _patches(
        self, frames: list[np.ndarray], size: dict[str, int]
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """Frames of one item (all resized to the first frame's grid) ->
        (frames * h * w, 3, patch, patch) in raster order, and (h, w)."""
        height, width = frames[0].shape[:2]
        new_h, new_w = self.resized_size(height, width, size)
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        out = []
        for frame in frames:
            img = Image.fromarray(frame).resize((new_w, new_h), Image.BICUBIC)
            x = (np.asarray(img, dtype=np.float32) * self.rescale_factor - mean) / std
            out.append(x.transpose(2, 0, 1))  # (3, H, W)
        p = self.patch_size
        grid_h, grid_w = new_h // p, new_w // p
        pixels = np.stack(out)  # (T, 3, H, W)
        pixels = pixels.reshape(len(out), 3, grid_h, p, grid_w, p)
        pixels = pixels.transpose(0, 2, 4, 1, 3, 5)  # (T, gh, gw, 3, p, p)
        return torch.from_numpy(np.ascontiguousarray(pixels.reshape(-1, 3, p, p))), (
            grid_h,
            grid_w,
        )

    def preprocess(
        self,
        images: Any = None,
        videos: Any = None,
        size: dict[str, int] | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        size = dict(self.size | (size or {}))
        if min_pixels is not None:
            size["min_pixels"] = min_pixels
        if max_pixels is not None:
            size["max_pixels"] = max_pixels
        self._check_size(size)
        data: dict[str, Any] = {}
        if images is not None:
            if not isinstance(images, (list, tuple)):
                images = [images]
            pixels, grids = [], []
            for i, image in enumerate(images):
                frame = _to_hwc_uint8(image, f"image {i}")
                patches, (h, w) = self._patches([frame], size)
                pixels.append(patches)
                grids.append([1, h, w])
            data["pixel_values"] = torch.cat(pixels)
            data["image_grid_thw"] = torch.tensor(grids, dtype=torch.long)
        if videos is not None:
            if not isinstance(videos, (list, tuple)):
                videos = [videos]
            pixels, grids, num_frames = [], [], []
            for i, video in enumerate(videos):
                frames = self._video_frames(video, i)
                patches, (h, w) = self._patches(frames, size)
                pixels.append(patches)
                num_frames.append(len(frames))
                if self.split_video_frames:
                    grids.extend([1, h, w] for _ in frames)
                else:
                    grids.append([len(frames), h, w])
            data["pixel_values_videos"] = torch.cat(pixels)
            data["video_grid_thw"] = torch.tensor(grids, dtype=torch.long)
            if self.split_video_frames:
                data["num_frames"] = torch.tensor(num_frames, dtype=torch.long)
        return BatchFeature(data=data, tensor_type=return_tensors)

    @staticmethod
    def _video_frames(video: Any, index: int) -> list[np.ndarray]:
        if isinstance(video, (list, tuple)):
            frames = [
                _to_hwc_uint8(f, f"frame {j} of video {index}")
                for j, f in enumerate(video)
            ]
        else:
            array = (
                video.numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
            )
            if array.ndim != 4:
                raise ValueError(
                    f"video {index} must be frames of shape (T, H, W, 3), got "
                    f"shape {tuple(array.shape)}"
                )
            frames = [
                _to_hwc_uint8(f, f"frame {j} of video {index}")
                for j, f in enumerate(array)
            ]
        if not frames:
            raise ValueError(f"video {index} has no frames")
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise ValueError(
                f"the frames of video {index} differ in size: {sorted(shapes)}"
            )
        return frames

    def __call__(
        self, images: Any = None, videos: Any = None, **kwargs: Any
    ) -> BatchFeature:
        return self.preprocess(images=images, videos=videos, **kwargs)
