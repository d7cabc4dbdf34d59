"""NemotronH text config, as the Nano Nemotron VL checkpoints ship it as remote
code, written for the tiny test checkpoints of vllm-mm-patches.

Only the attributes vLLM's nemotron_h.py reads, with the names the real
module uses (`hybrid_override_pattern`: M Mamba2, * attention, - MLP, E MoE).
"""

from transformers import PretrainedConfig

_LAYER_KINDS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}


class NemotronHConfig(PretrainedConfig):
    model_type = "nemotron_h"

    def __init__(
        self,
        vocab_size=131072,
        hidden_size=4096,
        intermediate_size=21504,
        num_hidden_layers=52,
        hybrid_override_pattern="M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-",
        num_attention_heads=32,
        head_dim=128,
        num_key_value_heads=8,
        mlp_hidden_act="relu2",
        attention_bias=False,
        mlp_bias=False,
        use_bias=False,
        layer_norm_epsilon=1e-5,
        residual_in_fp32=False,
        max_position_embeddings=4096,
        ssm_state_size=128,
        mamba_num_heads=128,
        mamba_n_groups=8,
        mamba_head_dim=64,
        mamba_d_conv=4,
        mamba_expand=2,
        mamba_hidden_act="silu",
        mamba_conv_bias=True,
        mamba_proj_bias=False,
        mamba_chunk_size=256,
        tie_word_embeddings=False,
        **kwargs,
    ):
        if len(hybrid_override_pattern) != num_hidden_layers or not set(
            hybrid_override_pattern
        ) <= set(_LAYER_KINDS):
            raise ValueError(
                f"hybrid_override_pattern {hybrid_override_pattern!r} must have "
                f"{num_hidden_layers} characters out of {sorted(_LAYER_KINDS)}"
            )
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.hybrid_override_pattern = hybrid_override_pattern
        self.num_attention_heads = num_attention_heads
        self.head_dim = head_dim
        self.num_key_value_heads = num_key_value_heads
        self.mlp_hidden_act = mlp_hidden_act
        self.attention_bias = attention_bias
        self.mlp_bias = mlp_bias
        self.use_bias = use_bias
        self.layer_norm_epsilon = layer_norm_epsilon
        self.residual_in_fp32 = residual_in_fp32
        self.max_position_embeddings = max_position_embeddings
        self.ssm_state_size = ssm_state_size
        self.mamba_num_heads = mamba_num_heads
        self.n_groups = mamba_n_groups
        self.mamba_head_dim = mamba_head_dim
        self.conv_kernel = mamba_d_conv
        self.expand = mamba_expand
        self.mamba_hidden_act = mamba_hidden_act
        self.use_conv_bias = mamba_conv_bias
        self.mamba_proj_bias = mamba_proj_bias
        self.chunk_size = mamba_chunk_size
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)

    @property
    def layers_block_type(self):
        return [_LAYER_KINDS[c] for c in self.hybrid_override_pattern]
