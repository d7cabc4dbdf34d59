"""Tiny Nano Nemotron VL (NemotronH_Nano_VL_V2) checkpoint, built offline.

The config classes exist only as remote code on the model hub; the modules
in scripts/tiny_remote/nano_nemotron_vl/ are written here from what vLLM's
nano_nemotron_vl.py reads and copied into the checkpoint with an `auto_map`.
vLLM brings its own processor (NanoNemotronVLProcessor) built from the config
and the tokenizer, so the checkpoint ships no processor module.

What differs from the real model, and why (see the README):
- text model: NemotronH with the layer pattern "*-" (one attention layer,
  one MLP layer) instead of Mamba2 + attention + MLP: the Mamba2 layers of
  v0.19.1 need Triton kernels the CPU backend does not have;
- vision tower: RADIO "vit_small_patch16_224" (the smallest name vLLM's
  RadioConfig knows) instead of vit_huge; tiles of 128 px, not 512;
- no sound encoder (vLLM's Parakeet encoder is the audio path; the tiny
  model supports images and videos).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import tiny_models as tm

REMOTE = Path(__file__).resolve().parent / "tiny_remote" / "nano_nemotron_vl"
# vllm/transformers_utils/processors/nano_nemotron_vl.py
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<image>"
SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "</s>",
    "<|im_start|>",
    "<|im_end|>",
    IMG_START,
    IMG_END,
    IMG_CONTEXT,
    "<box>",
    "</box>",
    "<think>",
    "</think>",
]
TILE_SIZE = 128  # force_image_size: 8 x 8 patches of 16 px, 16 tokens a tile
MAX_NUM_TILES = 4  # the deployment's default (mm_processor_kwargs)
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for c in message['content'] %}"
    "{%- if c['type'] == 'image' %}{{- '<image>' }}"
    "{%- elif c['type'] == 'video' %}{{- '<video>' }}"
    "{%- elif 'text' in c %}{{- c['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _tokenizer() -> Any:
    return tm.fast_tokenizer(
        SPECIAL_TOKENS,
        CHAT_TEMPLATE,
        bos_token="<s>",
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="</s>",
    )


def config_dict(vocab_size: int, eos_id: int) -> dict[str, Any]:
    text = dict(
        model_type="nemotron_h",
        architectures=["NemotronHForCausalLM"],
        vocab_size=vocab_size,
        hidden_size=tm.TEXT["hidden_size"],
        intermediate_size=tm.TEXT["intermediate_size"],
        num_hidden_layers=2,
        hybrid_override_pattern="*-",
        num_attention_heads=2,
        head_dim=64,
        num_key_value_heads=1,
        # Mamba sizes are read even without Mamba layers (state shapes).
        mamba_num_heads=4,
        mamba_head_dim=64,
        ssm_state_size=16,
        mamba_n_groups=1,
        max_position_embeddings=4096,
        eos_token_id=eos_id,
        torch_dtype="bfloat16",
    )
    return dict(
        architectures=["NemotronH_Nano_VL_V2"],
        model_type="NemotronH_Nano_VL_V2",
        auto_map={"AutoConfig": "configuration.NemotronH_Nano_VL_V2_Config"},
        text_config=text,
        vision_config=dict(
            args={"model": "vit_small_patch16_224"},
            preferred_resolution=[TILE_SIZE, TILE_SIZE],
            patch_size=16,
        ),
        force_image_size=TILE_SIZE,
        patch_size=16,
        downsample_ratio=0.5,
        template="nemotron5",
        ps_version="v2",
        image_tag_type="internvl",
        projector_hidden_size=256,
        vit_hidden_size=384,  # vit_small
        use_thumbnail=True,
        norm_mean=[0.48145466, 0.4578275, 0.40821073],
        norm_std=[0.26862954, 0.26130258, 0.27577711],
        eos_token_id=eos_id,
        torch_dtype="bfloat16",
    )


def build(out: Path) -> None:
    tok = _tokenizer()
    tok.save_pretrained(out)
    eos_id = tok.convert_tokens_to_ids("<|im_end|>")
    cfg = config_dict(tm._vocab_size(tok), eos_id)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"eos_token_id": eos_id, "do_sample": False}) + "\n"
    )
    for src in sorted(REMOTE.glob("*.py")):
        shutil.copy(src, out / src.name)
