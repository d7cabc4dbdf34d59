"""Keye-VL and Keye-VL-1.5 configurations (remote code of the tiny checkpoints).

Written for the offline tiny checkpoints of vllm-mm-patches from what vLLM's
`keye.py` / `keye_vl1_5.py` read: a SigLIP-style `vision_config` and the
Qwen3 text model's fields at the top level, with multimodal RoPE
(`rope_scaling={"type": "mrope", "mrope_section": [t, h, w]}` as the
checkpoints of that time wrote it). Not the hub's file.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class KeyeVisionConfig(PretrainedConfig):
    """The SigLIP vision tower with 2-D rotary embeddings (Keye's ViT)."""

    model_type = "Keye"
    base_config_key = "vision_config"

    def __init__(
        self,
        hidden_size: int = 1152,
        intermediate_size: int = 4304,
        num_hidden_layers: int = 27,
        num_attention_heads: int = 16,
        num_channels: int = 3,
        image_size: int = 384,
        patch_size: int = 14,
        spatial_merge_size: int = 2,
        temporal_patch_size: int = 1,
        hidden_act: str = "gelu_pytorch_tanh",
        layer_norm_eps: float = 1e-6,
        attention_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"vision hidden_size {hidden_size} is not a multiple of "
                f"num_attention_heads {num_attention_heads}"
            )
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_channels = num_channels
        self.image_size = image_size
        self.patch_size = patch_size
        self.spatial_merge_size = spatial_merge_size
        self.temporal_patch_size = temporal_patch_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.attention_dropout = attention_dropout


class KeyeConfig(PretrainedConfig):
    """Keye-VL: a Qwen3 text model (fields at the top level) + KeyeVisionConfig."""

    model_type = "Keye"
    sub_configs = {"vision_config": KeyeVisionConfig}
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vision_config: dict[str, Any] | KeyeVisionConfig | None = None,
        vocab_size: int = 151936,
        hidden_size: int = 4096,
        intermediate_size: int = 12288,
        num_hidden_layers: int = 36,
        num_attention_heads: int = 32,
        num_key_value_heads: int = 8,
        head_dim: int = 128,
        hidden_act: str = "silu",
        max_position_embeddings: int = 40960,
        rms_norm_eps: float = 1e-6,
        rope_theta: float = 1_000_000.0,
        rope_scaling: dict[str, Any] | None = None,
        attention_bias: bool = False,
        attention_dropout: float = 0.0,
        use_cache: bool = True,
        tie_word_embeddings: bool = False,
        image_token_id: int = 151655,
        video_token_id: int = 151656,
        vision_start_token_id: int = 151652,
        vision_end_token_id: int = 151653,
        **kwargs: Any,
    ) -> None:
        if isinstance(vision_config, dict):
            vision_config = KeyeVisionConfig(**vision_config)
        elif vision_config is None:
            vision_config = KeyeVisionConfig()
        self.vision_config = vision_config

        if rope_scaling is not None:
            section = rope_scaling.get("mrope_section")
            if not section or len(section) != 3 or 2 * sum(section) != head_dim:
                raise ValueError(
                    f"rope_scaling.mrope_section must be three sections summing "
                    f"to head_dim / 2 = {head_dim // 2}, got {section}"
                )
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        self.use_cache = use_cache
        self.image_token_id = image_token_id
        self.video_token_id = video_token_id
        self.vision_start_token_id = vision_start_token_id
        self.vision_end_token_id = vision_end_token_id
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)


class KeyeVL1_5Config(KeyeConfig):
    """Keye-VL-1.5: same fields; its processor adds frame and timestamp tokens."""

    model_type = "KeyeVL1_5"

    def __init__(self, **kwargs: Any) -> None:
        # An own __init__: transformers turns config subclasses without one
        # into dataclasses with a generated __init__.
        super().__init__(**kwargs)
