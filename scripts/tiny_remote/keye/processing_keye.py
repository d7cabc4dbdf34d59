"""Keye-VL and Keye-VL-1.5 processors (remote code of the tiny checkpoints).

Written for the offline tiny checkpoints of vllm-mm-patches from the
contract vLLM's `keye.py` / `keye_vl1_5.py` read, not the hub's file.

Each `<|image_pad|>` of the text becomes one `<|image_pad|>` per merged
patch of its image (grid h * w / merge_size**2), and each `<|video_pad|>`:

* Keye-VL: one `<|video_pad|>` per merged patch of the whole video;
* Keye-VL-1.5: per frame, `<|frame|>` and the frame's timestamp (seconds,
  one decimal, from the `timestamps` argument; empty without it), then the
  frame's `<|video_pad|>` tokens; a frame whose `frame_types` entry is 1
  (a "fast" frame) has its pad tokens between `<|fast_start|>` and
  `<|fast_end|>`.

Media and placeholders are matched in order; a count or length mismatch is
a ValueError that names the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import Unpack

import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin, VideosKwargs

IMAGE_KWARGS = ("size", "min_pixels", "max_pixels")


class KeyeVideosKwargs(VideosKwargs, total=False):
    # Keye-VL-1.5, per video: seconds of each frame, 1 for a "fast" frame.
    timestamps: list[list[float]]
    frame_types: list[list[int]]


class KeyeProcessorKwargs(ProcessingKwargs, total=False):
    """The call's keyword arguments; vLLM reads the names from here."""

    videos_kwargs: KeyeVideosKwargs


class KeyeProcessor(ProcessorMixin):
    """Keye-VL: KeyeImageProcessor (images and videos) + a Qwen tokenizer."""

    image_token = "<|image_pad|>"
    video_token = "<|video_pad|>"

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, chat_template=chat_template)

    # -- placeholders ---------------------------------------------------------

    @property
    def merge_length(self) -> int:
        return int(self.image_processor.merge_size) ** 2

    def image_replacement(self, grid_thw: Sequence[int]) -> str:
        return self.image_token * (
            int(torch.as_tensor(grid_thw).prod()) // self.merge_length
        )

    def video_replacements(
        self, video_inputs: dict[str, Any], video_kwargs: dict[str, Any]
    ) -> list[str]:
        """The expanded placeholder text of every video, in order."""
        return [
            self.video_token * (int(grid.prod()) // self.merge_length)
            for grid in video_inputs["video_grid_thw"]
        ]

    def _pop_video_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {}

    # -- call -----------------------------------------------------------------

    def __call__(
        self,
        images: Any = None,
        text: str | list[str] | None = None,
        videos: Any = None,
        **kwargs: Unpack[KeyeProcessorKwargs],
    ) -> BatchFeature:
        return_tensors = kwargs.pop("return_tensors", None)
        image_kwargs = {k: kwargs.pop(k) for k in IMAGE_KWARGS if k in kwargs}
        video_kwargs = self._pop_video_kwargs(kwargs)

        image_inputs: dict[str, Any] = {}
        video_inputs: dict[str, Any] = {}
        if images is not None:
            image_inputs = dict(self.image_processor(images=images, **image_kwargs))
        if videos is not None:
            video_inputs = dict(self.image_processor(videos=videos, **image_kwargs))

        if text is None:
            return BatchFeature(
                data={**image_inputs, **video_inputs}, tensor_type=return_tensors
            )
        texts = [text] if isinstance(text, str) else list(text)

        image_parts = [
            self.image_replacement(grid)
            for grid in image_inputs.get("image_grid_thw", [])
        ]
        video_parts = (
            self.video_replacements(video_inputs, video_kwargs)
            if videos is not None
            else []
        )
        texts = self._expand(texts, self.image_token, image_parts, "image")
        texts = self._expand(texts, self.video_token, video_parts, "video")

        text_inputs = self.tokenizer(texts, **kwargs)
        return BatchFeature(
            data={**text_inputs, **image_inputs, **video_inputs},
            tensor_type=return_tensors,
        )

    @staticmethod
    def _expand(
        texts: list[str], token: str, parts: list[str], modality: str
    ) -> list[str]:
        """Replace the n-th `token` of the texts by parts[n]."""
        found = sum(t.count(token) for t in texts)
        if found != len(parts):
            raise ValueError(
                f"the text has {found} {modality} placeholder(s) {token!r} but "
                f"{len(parts)} {modality}(s) were given"
            )
        out, index = [], 0
        for text in texts:
            pieces = text.split(token)
            rebuilt = [pieces[0]]
            for piece in pieces[1:]:
                rebuilt += [parts[index], piece]
                index += 1
            out.append("".join(rebuilt))
        return out

    @property
    def model_input_names(self) -> list[str]:
        names = [
            *self.tokenizer.model_input_names,
            *self.image_processor.model_input_names,
        ]
        return list(dict.fromkeys(names))


class KeyeVL1_5Processor(KeyeProcessor):
    """Keye-VL-1.5: frame and timestamp tokens around every video frame."""

    frame_token = "<|frame|>"
    fast_start = "<|fast_start|>"
    fast_end = "<|fast_end|>"

    def _pop_video_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: kwargs.pop(k) for k in ("timestamps", "frame_types") if k in kwargs}

    def video_replacements(
        self, video_inputs: dict[str, Any], video_kwargs: dict[str, Any]
    ) -> list[str]:
        num_frames = [int(n) for n in video_inputs["num_frames"]]
        grids = video_inputs["video_grid_thw"]
        timestamps = video_kwargs.get("timestamps")
        frame_types = video_kwargs.get("frame_types")
        for name, values in (("timestamps", timestamps), ("frame_types", frame_types)):
            if values is not None and len(values) != len(num_frames):
                raise ValueError(
                    f"{name} has {len(values)} entries but {len(num_frames)} "
                    "video(s) were given"
                )
        parts, row = [], 0
        for video, count in enumerate(num_frames):
            stamps = None if timestamps is None else list(timestamps[video])
            types = None if frame_types is None else list(frame_types[video])
            for name, values in (("timestamps", stamps), ("frame_types", types)):
                if values is not None and len(values) != count:
                    raise ValueError(
                        f"video {video} has {count} frames but {len(values)} {name}"
                    )
            text = []
            for frame in range(count):
                grid = grids[row]
                row += 1
                if int(grid[0]) != 1:
                    raise ValueError(
                        f"frame {frame} of video {video} has grid {grid.tolist()}; "
                        "Keye-VL-1.5 expects one [1, h, w] row per frame"
                    )
                stamp = "" if stamps is None else format(float(stamps[frame]), ".1f")
                fast = types is not None and int(types[frame]) == 1
                pads = self.video_token * (int(grid.prod()) // self.merge_length)
                text.append(
                    f"{self.frame_token}{stamp}"
                    + (f"{self.fast_start}{pads}{self.fast_end}" if fast else pads)
                )
            parts.append("".join(text))
        return parts
