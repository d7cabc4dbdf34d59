"""Tiny Keye-VL and Keye-VL-1.5 checkpoints, written offline.

Keye's config and processor exist only as remote code on the model hub, so
the checkpoint carries its own: the modules in `tiny_remote/keye/`
(configuration_keye.py, image_processing_keye.py, processing_keye.py,
written here from what vLLM's keye.py / keye_vl1_5.py read) are copied into
it and named by `auto_map`, and load with `trust_remote_code`. The rest is
like the other tiny models: random weights with Keye's parameter names (a
Qwen3 text model, a SigLIP vision tower with Keye's packing position
embedding, the 2x2 `mlp_AR` projector), a locally trained byte-level BPE
tokenizer with Qwen's special tokens (plus `<|frame|>`, `<|fast_start|>`,
`<|fast_end|>` for 1.5) and Qwen's chat template.

Used through scripts/tiny_models.py (`keye`, `keye_vl1_5`).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REMOTE_DIR = Path(__file__).resolve().parent / "tiny_remote" / "keye"
REMOTE_FILES = (
    "configuration_keye.py",
    "image_processing_keye.py",
    "processing_keye.py",
)

KEYE15_TOKENS = ["<|frame|>", "<|fast_start|>", "<|fast_end|>"]

PATCH = 14
MERGE = 2  # Keye's projector merges 2x2 patches (hard-coded in vLLM)
VISION_INTERMEDIATE = 256
POSITION_GRID = 16  # position embeddings for a 16x16 patch grid, interpolated
PACKING_POSITIONS = 32768  # size of vLLM's packing_position_embedding
# Images and every video frame: 2x2 to 8x8 merged patches (4 to 64 tokens).
MIN_PIXELS = (PATCH * MERGE) ** 2 * 4
MAX_PIXELS = (PATCH * MERGE) ** 2 * 64
MROPE_SECTION = [8, 12, 12]  # sums to head_dim / 2 = 32


def load_remote_module(name: str) -> ModuleType:
    """Import tiny_remote/keye/<name>.py as a standalone module."""
    path = REMOTE_DIR / f"{name}.py"
    module_name = f"_tiny_keye_remote_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _classes(v1_5: bool) -> dict[str, str]:
    prefix = "KeyeVL1_5" if v1_5 else "Keye"
    return {
        "config": f"{prefix}Config",
        "model": f"{prefix}ForConditionalGeneration",
        "processor": f"{prefix}Processor",
        "image_processor": "KeyeImageProcessor",
    }


def _tokenizer(v1_5: bool) -> Any:
    from tiny_models import _qwen_tokenizer
    from transformers import AddedToken

    tokenizer = _qwen_tokenizer()
    if v1_5:
        tokenizer.add_tokens(
            [AddedToken(t, special=True, normalized=False) for t in KEYE15_TOKENS]
        )
    return tokenizer


def _state_dict(config: Any, vocab_size: int, v1_5: bool) -> dict[str, Any]:
    """Random weights under the names of Keye's checkpoints."""
    import torch
    from tiny_models import SEED, TEXT, _init_weights
    from transformers import (
        Qwen3Config,
        Qwen3ForCausalLM,
        SiglipVisionConfig,
        SiglipVisionModel,
    )

    torch.manual_seed(SEED)
    text = Qwen3ForCausalLM(
        Qwen3Config(**TEXT, vocab_size=vocab_size, tie_word_embeddings=False)
    )
    _init_weights(text)
    vc = config.vision_config
    vision = SiglipVisionModel(
        SiglipVisionConfig(
            hidden_size=vc.hidden_size,
            intermediate_size=vc.intermediate_size,
            num_hidden_layers=vc.num_hidden_layers,
            num_attention_heads=vc.num_attention_heads,
            image_size=vc.image_size,
            patch_size=vc.patch_size,
            layer_norm_eps=vc.layer_norm_eps,
            vision_use_head=False,
        )
    )
    _init_weights(vision)

    gen = torch.Generator().manual_seed(SEED + 1)
    merged = vc.hidden_size * MERGE * MERGE
    norm_dim = merged if v1_5 else vc.hidden_size  # 1.5 normalizes after merging

    def rand(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(shape, generator=gen) * std

    weights = {k: v for k, v in text.state_dict().items()}
    for name, value in vision.state_dict().items():  # "vision_model." or not
        name = name.removeprefix("vision_model.")
        weights[f"visual.vision_model.{name}"] = value
    weights["visual.vision_model.embeddings.packing_position_embedding.weight"] = rand(
        PACKING_POSITIONS, vc.hidden_size, std=1.0
    )
    weights["mlp_AR.pre_norm.weight"] = 1.0 + rand(norm_dim, std=0.1)
    weights["mlp_AR.pre_norm.bias"] = rand(norm_dim, std=0.1)
    weights["mlp_AR.linear_1.weight"] = rand(merged, merged, std=merged**-0.5)
    weights["mlp_AR.linear_1.bias"] = rand(merged, std=0.1)
    weights["mlp_AR.linear_2.weight"] = rand(
        config.hidden_size, merged, std=merged**-0.5
    )
    weights["mlp_AR.linear_2.bias"] = rand(config.hidden_size, std=0.1)
    return {k: v.detach().to(torch.float32).contiguous() for k, v in weights.items()}


def build_keye(out: Path, *, v1_5: bool = False) -> None:
    """Write a tiny Keye-VL (or Keye-VL-1.5 with `v1_5`) checkpoint into `out`."""
    from safetensors.torch import save_file
    from tiny_models import QWEN3_VL_CHAT_TEMPLATE, TEXT, VISION_DEPTH, _vocab_size
    from transformers import GenerationConfig

    out = Path(out)
    names = _classes(v1_5)
    configuration = load_remote_module("configuration_keye")
    image_processing = load_remote_module("image_processing_keye")

    tokenizer = _tokenizer(v1_5)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.get_vocab()}
    config = getattr(configuration, names["config"])(
        vision_config=dict(
            hidden_size=128,
            intermediate_size=VISION_INTERMEDIATE,
            num_hidden_layers=VISION_DEPTH,
            num_attention_heads=2,  # head_dim 64
            image_size=PATCH * POSITION_GRID,
            patch_size=PATCH,
            spatial_merge_size=MERGE,
        ),
        **TEXT,
        vocab_size=_vocab_size(tokenizer),
        rope_theta=1_000_000.0,
        rope_scaling={"type": "mrope", "mrope_section": MROPE_SECTION},
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    config.architectures = [names["model"]]
    config.auto_map = {"AutoConfig": f"configuration_keye.{names['config']}"}
    config.save_pretrained(out)

    save_file(
        _state_dict(config, config.vocab_size, v1_5),
        str(out / "model.safetensors"),
        metadata={"format": "pt"},
    )
    GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    ).save_pretrained(out)

    tokenizer.save_pretrained(out)
    image_processor = image_processing.KeyeImageProcessor(
        size={"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS},
        patch_size=PATCH,
        merge_size=MERGE,
        split_video_frames=v1_5,
    )
    auto_map = {
        "AutoImageProcessor": f"image_processing_keye.{names['image_processor']}",
        "AutoProcessor": f"processing_keye.{names['processor']}",
    }
    preprocessor = {
        **image_processor.to_dict(),
        "image_processor_type": names["image_processor"],
        "processor_class": names["processor"],
        "auto_map": auto_map,
    }
    (out / "preprocessor_config.json").write_text(
        json.dumps(preprocessor, indent=2, sort_keys=True) + "\n"
    )
    (out / "processor_config.json").write_text(
        json.dumps(
            {"processor_class": names["processor"], "auto_map": auto_map},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    (out / "chat_template.jinja").write_text(QWEN3_VL_CHAT_TEMPLATE)
    for name in REMOTE_FILES:
        shutil.copyfile(REMOTE_DIR / name, out / name)


def build_keye_vl1_5(out: Path) -> None:
    build_keye(out, v1_5=True)
