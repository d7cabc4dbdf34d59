"""The Keye remote-code modules (scripts/tiny_remote/keye/) and the checkpoints
scripts/tiny_keye.py writes with them. Expected values are worked out by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import tiny_keye  # noqa: E402
import tiny_models  # noqa: E402

configuration = tiny_keye.load_remote_module("configuration_keye")
image_processing = tiny_keye.load_remote_module("image_processing_keye")
processing = tiny_keye.load_remote_module("processing_keye")

FACTOR = 28  # patch 14 x merge 2
MIN, MAX = 28 * 28 * 4, 28 * 28 * 64


# ---------------------------------------------------------------------------
# smart_resize and the image processor
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (96, 128, (84, 140)),  # rounded to multiples of 28: 3.4 -> 3, 4.6 -> 5
        (224, 224, (224, 224)),  # exactly the maximum area
        (1000, 1000, (224, 224)),  # shrunk: floor(1000 / 4.46 / 28) = 8
        (10, 10, (56, 56)),  # too small: 28x28, then grown to the minimum area
        (28, 2000, (28, 1876)),  # shrunk, but never below one factor (floor: 0)
    ],
)
def test_smart_resize(height: int, width: int, expected: tuple[int, int]) -> None:
    assert image_processing.smart_resize(height, width, FACTOR, MIN, MAX) == expected


def test_smart_resize_rejects_extreme_aspect_ratio() -> None:
    with pytest.raises(ValueError, match="aspect ratio must be smaller than 200"):
        image_processing.smart_resize(28, 28 * 201, FACTOR, MIN, MAX)


def _raw_processor(**kwargs: Any) -> Any:
    """No normalization, so patches hold the input pixels."""
    return image_processing.KeyeImageProcessor(
        size={"min_pixels": MIN, "max_pixels": MAX},
        image_mean=(0.0, 0.0, 0.0),
        image_std=(1.0, 1.0, 1.0),
        rescale_factor=1.0,
        **kwargs,
    )


def _patch_numbered_image(rows: int, cols: int) -> np.ndarray:
    """An image whose 14x14 patch (r, c) has value r * cols + c (all channels)."""
    img = np.zeros((rows * 14, cols * 14, 3), dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            img[r * 14 : (r + 1) * 14, c * 14 : (c + 1) * 14] = r * cols + c
    return img


def test_image_patches_are_in_raster_order() -> None:
    out = _raw_processor()(images=[_patch_numbered_image(4, 6)], return_tensors="pt")
    assert out["image_grid_thw"].tolist() == [[1, 4, 6]]
    pixels = out["pixel_values"]
    assert pixels.shape == (24, 3, 14, 14)
    for k in range(24):  # row by row: patch k is (k // 6, k % 6)
        assert torch.all(pixels[k] == k), k


def test_video_grids_keye_and_keye_vl1_5() -> None:
    frames = np.stack([_patch_numbered_image(4, 6)] * 3)
    one = _raw_processor()(videos=[frames, frames[:2]], return_tensors="pt")
    assert one["video_grid_thw"].tolist() == [[3, 4, 6], [2, 4, 6]]
    assert one["pixel_values_videos"].shape == (5 * 24, 3, 14, 14)
    assert "num_frames" not in one

    split = _raw_processor(split_video_frames=True)(
        videos=[frames, frames[:2]], return_tensors="pt"
    )
    assert split["video_grid_thw"].tolist() == [[1, 4, 6]] * 5
    assert split["num_frames"].tolist() == [3, 2]
    assert torch.equal(split["pixel_values_videos"], one["pixel_values_videos"])


@pytest.mark.parametrize(
    ("video", "match"),
    [
        (
            np.zeros((8, 8, 3), dtype=np.uint8),
            r"video 0 must be frames of shape \(T, H, W, 3\)",
        ),
        (np.zeros((0, 28, 28, 3), dtype=np.uint8), "video 0 has no frames"),
        (
            np.zeros((2, 28, 28, 4), dtype=np.uint8),
            "frame 0 of video 0 must be an RGB image",
        ),
    ],
)
def test_malformed_video_is_a_value_error_naming_it(
    video: np.ndarray, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        _raw_processor()(videos=[video])


def test_size_override_and_bad_size() -> None:
    small = _raw_processor()(
        images=[np.zeros((224, 224, 3), np.uint8)], max_pixels=28 * 28 * 4
    )
    assert small["image_grid_thw"].tolist() == [[1, 4, 4]]
    with pytest.raises(ValueError, match="min_pixels <= max_pixels"):
        _raw_processor()(images=[np.zeros((28, 28, 3), np.uint8)], min_pixels=MAX + 1)


# ---------------------------------------------------------------------------
# Processors
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers() -> dict[bool, Any]:
    return {v1_5: tiny_keye._tokenizer(v1_5) for v1_5 in (False, True)}


def _processor(tokenizers: dict[bool, Any], v1_5: bool) -> Any:
    cls = processing.KeyeVL1_5Processor if v1_5 else processing.KeyeProcessor
    return cls(
        image_processor=_raw_processor(split_video_frames=v1_5),
        tokenizer=tokenizers[v1_5],
    )


def test_keye_expands_images_and_videos(tokenizers: dict[bool, Any]) -> None:
    proc = _processor(tokenizers, v1_5=False)
    image = _patch_numbered_image(4, 6)  # 2x3 merged patches: 6 tokens
    video = np.stack([_patch_numbered_image(4, 6)] * 3)  # 3 frames of 2x3: 18 tokens
    out = proc(
        text=["<|image_pad|>a<|video_pad|>b<|image_pad|>"],
        images=[image, image],
        videos=[video],
    )
    tok = tokenizers[False]
    image_id, video_id = tok.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>"])
    want = (
        [image_id] * 6
        + tok.encode("a")
        + [video_id] * 18
        + tok.encode("b")
        + [image_id] * 6
    )
    assert out["input_ids"][0] == want
    assert out["video_grid_thw"].tolist() == [[3, 4, 6]]


def test_keye_vl1_5_frame_and_timestamp_tokens(tokenizers: dict[bool, Any]) -> None:
    proc = _processor(tokenizers, v1_5=True)
    video = np.stack([_patch_numbered_image(4, 6)] * 3)  # 3 frames, 6 tokens each
    out = proc(
        text=["<|vision_start|><|video_pad|><|vision_end|>"],
        videos=[video],
        timestamps=[[0.0, 0.5, 1.25]],
        frame_types=[[0, 1, 0]],
    )
    text = proc.tokenizer.decode(out["input_ids"][0])
    pads = "<|video_pad|>" * 6
    assert text == (
        "<|vision_start|>"
        f"<|frame|>0.0{pads}"
        f"<|frame|>0.5<|fast_start|>{pads}<|fast_end|>"
        f"<|frame|>1.2{pads}"  # format(1.25, ".1f") rounds half to even
        "<|vision_end|>"
    )
    no_stamps = proc(text=["<|video_pad|>"], videos=[video])
    assert proc.tokenizer.decode(no_stamps["input_ids"][0]) == f"<|frame|>{pads}" * 3


@pytest.mark.parametrize("v1_5", [False, True])
def test_placeholder_count_mismatch_is_a_value_error(
    tokenizers: dict[bool, Any], v1_5: bool
) -> None:
    proc = _processor(tokenizers, v1_5)
    image = _patch_numbered_image(2, 2)
    with pytest.raises(
        ValueError, match=r"1 image placeholder\(s\) .* but 2 image\(s\)"
    ):
        proc(text=["<|image_pad|>"], images=[image, image])
    with pytest.raises(
        ValueError, match=r"0 video placeholder\(s\) .* but 1 video\(s\)"
    ):
        proc(text=["no video"], videos=[np.stack([image])])


def test_keye_vl1_5_timestamps_must_match_the_frames(
    tokenizers: dict[bool, Any],
) -> None:
    proc = _processor(tokenizers, v1_5=True)
    video = np.stack([_patch_numbered_image(2, 2)] * 2)
    with pytest.raises(ValueError, match="video 0 has 2 frames but 3 timestamps"):
        proc(text=["<|video_pad|>"], videos=[video], timestamps=[[0, 1, 2]])
    with pytest.raises(ValueError, match="timestamps has 2 entries but 1 video"):
        proc(text=["<|video_pad|>"], videos=[video], timestamps=[[0, 1], [0, 1]])


# ---------------------------------------------------------------------------
# Config and the written checkpoint
# ---------------------------------------------------------------------------


def test_config_rejects_bad_mrope_section() -> None:
    with pytest.raises(ValueError, match="summing to head_dim / 2 = 32"):
        configuration.KeyeConfig(
            head_dim=64, rope_scaling={"type": "mrope", "mrope_section": [8, 8, 8]}
        )


@pytest.mark.parametrize(
    ("name", "model_type", "processor_cls"),
    [
        ("keye", "Keye", "KeyeProcessor"),
        ("keye_vl1_5", "KeyeVL1_5", "KeyeVL1_5Processor"),
    ],
)
def test_checkpoint_loads_through_auto_classes(
    tmp_path: Path, name: str, model_type: str, processor_cls: str
) -> None:
    from safetensors import safe_open
    from transformers import AutoConfig, AutoProcessor

    path = tiny_models.make_model(name, tmp_path / name)
    for module in tiny_keye.REMOTE_FILES:  # shipped with the checkpoint
        assert (path / module).read_bytes() == (
            tiny_keye.REMOTE_DIR / module
        ).read_bytes()
    config = AutoConfig.from_pretrained(path, trust_remote_code=True)
    assert config.model_type == model_type
    assert type(config).__name__ == f"{model_type}Config"
    assert config.vision_config.patch_size == 14
    assert config.vision_config.spatial_merge_size == 2
    assert config.rope_parameters["mrope_section"] == tiny_keye.MROPE_SECTION
    processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
    assert type(processor).__name__ == processor_cls
    assert processor.image_processor.size == {"min_pixels": MIN, "max_pixels": MAX}
    vocab = processor.tokenizer.get_vocab()
    assert config.image_token_id == vocab["<|image_pad|>"]
    assert config.video_token_id == vocab["<|video_pad|>"]
    assert config.vocab_size >= len(processor.tokenizer)
    if name == "keye_vl1_5":
        assert {"<|frame|>", "<|fast_start|>", "<|fast_end|>"} <= vocab.keys()

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        pre_norm = f.get_tensor("mlp_AR.pre_norm.weight").shape
    assert "visual.vision_model.embeddings.packing_position_embedding.weight" in keys
    assert "visual.vision_model.encoder.layers.1.self_attn.q_proj.weight" in keys
    assert "model.layers.1.self_attn.q_norm.weight" in keys and "lm_head.weight" in keys
    # Keye-VL normalizes before the 2x2 merge, Keye-VL-1.5 after it.
    assert pre_norm == ((4 * 128,) if name == "keye_vl1_5" else (128,))
    assert json.loads((path / "config.json").read_text())["auto_map"] == {
        "AutoConfig": f"configuration_keye.{model_type}Config"
    }
