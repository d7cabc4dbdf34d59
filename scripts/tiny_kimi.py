"""Tiny Kimi-K2.5 (KimiK25ForConditionalGeneration) checkpoint, built offline.

vLLM brings the config class (KimiK25Config, model_type kimi_k25) and the
processor (KimiK25Processor); the image processor exists only as remote code
on the model hub, so scripts/tiny_remote/kimi_k25/kimi_k25_vision_processing.py
(written here from what vLLM's kimi_k25.py calls) is copied into the
checkpoint with an `auto_map` in preprocessor_config.json.

What differs from the real model, and why (see the README):
- text model: DeepSeek-V3 with 2 layers (1 dense, 1 MoE of 4 experts) run
  with VLLM_MLA_DISABLE=1: the CPU backend of v0.19.1 has no MLA kernel, so
  the attention runs as plain multi-head attention on the decompressed K/V;
- MoonViT: 2 layers of 128, position embeddings for 16 x 16 patches;
- tokenizer: a byte-level BPE trained here with Kimi's media and chat special
  tokens (the real one is a tiktoken model shipped as remote code);
- weights: none in the checkpoint, the engine runs with load_format=dummy
  (vLLM's seeded random init, identical in pristine and patched trees).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import tiny_models as tm

REMOTE = Path(__file__).resolve().parent / "tiny_remote" / "kimi_k25"
MEDIA_PAD = "<|media_pad|>"
SPECIAL_TOKENS = [
    "[BOS]",
    "[EOS]",
    "[UNK]",
    "<|im_end|>",
    "<|im_user|>",
    "<|im_assistant|>",
    "<|im_system|>",
    "<|im_middle|>",
    "<|media_begin|>",
    "<|media_content|>",
    MEDIA_PAD,
    "<|media_end|>",
    "<|kimi_k25_video_placeholder|>",
]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_' + message['role'] + '|>' + message['role'] + '<|im_middle|>' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for c in message['content'] %}"
    "{%- if c['type'] in ('image', 'image_url', 'vision_chunk') %}"
    "{{- '<|media_begin|>image<|media_content|><|media_pad|><|media_end|>' }}"
    "{%- elif 'text' in c %}{{- c['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_assistant|>assistant<|im_middle|>' }}{%- endif %}"
)
IMAGE_PROCESSOR = dict(
    patch_size=14,
    merge_kernel_size=[2, 2],
    in_patch_limit=256,
    num_frames_per_chunk=4,
    image_mean=[0.5, 0.5, 0.5],
    image_std=[0.5, 0.5, 0.5],
)


def _tokenizer() -> Any:
    return tm.fast_tokenizer(
        SPECIAL_TOKENS,
        CHAT_TEMPLATE,
        bos_token="[BOS]",
        eos_token="<|im_end|>",
        unk_token="[UNK]",
        pad_token="[EOS]",
    )


def config_dict(vocab_size: int, media_id: int, eos_id: int) -> dict[str, Any]:
    text = dict(
        model_type="deepseek_v3",
        vocab_size=vocab_size,
        hidden_size=tm.TEXT["hidden_size"],
        intermediate_size=tm.TEXT["intermediate_size"],
        moe_intermediate_size=64,
        num_hidden_layers=2,
        first_k_dense_replace=1,
        n_routed_experts=4,
        n_shared_experts=1,
        num_experts_per_tok=2,
        n_group=1,
        topk_group=1,
        topk_method="noaux_tc",
        scoring_func="sigmoid",
        norm_topk_prob=True,
        routed_scaling_factor=1.0,
        num_attention_heads=2,
        num_key_value_heads=2,
        q_lora_rank=None,
        kv_lora_rank=64,
        qk_nope_head_dim=64,
        qk_rope_head_dim=64,
        v_head_dim=64,
        max_position_embeddings=4096,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        eos_token_id=eos_id,
    )
    vision = dict(
        patch_size=14,
        init_pos_emb_height=16,
        init_pos_emb_width=16,
        init_pos_emb_time=4,
        pos_emb_type="divided_fixed",
        num_attention_heads=2,
        num_hidden_layers=2,
        hidden_size=128,
        intermediate_size=256,
        merge_kernel_size=[2, 2],
        video_attn_type="spatial_temporal",
        merge_type="sd2_tpool",
        mm_projector_type="patchmerger",
        mm_hidden_size=128,
    )
    return dict(
        architectures=["KimiK25ForConditionalGeneration"],
        model_type="kimi_k25",
        text_config=text,
        vision_config=vision,
        media_placeholder_token_id=media_id,
        pad_token_id=0,
        eos_token_id=eos_id,
        torch_dtype="float32",
    )


def build(out: Path) -> None:
    tok = _tokenizer()
    tok.save_pretrained(out)
    media_id = tok.convert_tokens_to_ids(MEDIA_PAD)
    eos_id = tok.convert_tokens_to_ids("<|im_end|>")
    cfg = config_dict(tm._vocab_size(tok), media_id, eos_id)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"eos_token_id": eos_id, "do_sample": False}) + "\n"
    )
    processor = dict(
        IMAGE_PROCESSOR,
        image_processor_type="KimiK25VisionProcessor",
        auto_map={
            "AutoImageProcessor": "kimi_k25_vision_processing.KimiK25VisionProcessor"
        },
    )
    (out / "preprocessor_config.json").write_text(
        json.dumps(processor, indent=2) + "\n"
    )
    for src in sorted(REMOTE.glob("*.py")):
        shutil.copy(src, out / src.name)
