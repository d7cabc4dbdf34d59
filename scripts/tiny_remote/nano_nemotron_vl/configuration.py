"""NemotronH_Nano_VL_V2 config, as the Nano Nemotron VL checkpoints ship it as
remote code, written for the tiny test checkpoints of vllm-mm-patches.

The attributes are those vLLM's nano_nemotron_vl.py and its processor read:
the tile size and layout (force_image_size, patch_size, downsample_ratio,
use_thumbnail, ps_version, template, image_tag_type), normalisation, the
RADIO vision tower (`vision_config.args`), the projector and the NemotronH
text model (`text_config`; `llm_config` is the name older checkpoints use).
"""

from transformers import PretrainedConfig

from .configuration_nemotron_h import NemotronHConfig


class NemotronH_Nano_VL_V2_Config(PretrainedConfig):  # noqa: N801 (real name)
    model_type = "NemotronH_Nano_VL_V2"
    sub_configs = {"text_config": NemotronHConfig}

    def __init__(
        self,
        vision_config=None,
        text_config=None,
        llm_config=None,
        force_image_size=512,
        patch_size=16,
        downsample_ratio=0.5,
        template="nemotron5",
        ps_version="v2",
        image_tag_type="internvl",
        projector_hidden_size=4096,
        vit_hidden_size=1280,
        use_thumbnail=True,
        norm_mean=(0.48145466, 0.4578275, 0.40821073),
        norm_std=(0.26862954, 0.26130258, 0.27577711),
        **kwargs,
    ):
        text = text_config if text_config is not None else llm_config
        if isinstance(text, dict):
            text = NemotronHConfig(**text)
        self.text_config = text if text is not None else NemotronHConfig()
        if isinstance(vision_config, PretrainedConfig):
            vision_config = vision_config.to_dict()
        self.vision_config = PretrainedConfig(**(vision_config or {"args": {}}))
        self.force_image_size = force_image_size
        self.patch_size = patch_size
        self.downsample_ratio = downsample_ratio
        self.template = template
        self.ps_version = ps_version
        self.image_tag_type = image_tag_type
        self.projector_hidden_size = projector_hidden_size
        self.vit_hidden_size = vit_hidden_size
        self.use_thumbnail = use_thumbnail
        self.norm_mean = list(norm_mean)
        self.norm_std = list(norm_std)
        super().__init__(**kwargs)

    def to_dict(self):
        out = super().to_dict()
        out["vision_config"] = self.vision_config.to_dict()
        return out
