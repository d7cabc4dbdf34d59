#!/usr/bin/env python3
"""Write tiny random-weight multimodal checkpoints, offline.

Each checkpoint is a directory that both transformers and vLLM load like a
real one: config.json, model.safetensors, a byte-level BPE tokenizer trained
here with `tokenizers` (carrying the model's special tokens and a chat
template) and the model's real processor configs (saved with transformers'
processor classes). Shapes are chosen so that vLLM's CPU attention kernel
accepts them (head_dim 64), with 2 layers and a small vocabulary, so that a
model loads and generates in seconds on a 2-core machine.

    python scripts/tiny_models.py qwen3_vl --out build/models/qwen3_vl
    python scripts/tiny_models.py all --out build/models   # OUT/NAME each
    python scripts/tiny_models.py --list   # also says what cannot be built

Writing is cached and atomic: a complete directory carries a `.tiny-model`
stamp with the recipe version and is left alone; otherwise the checkpoint is
built in a temporary sibling directory and renamed into place. A lock file
next to the output makes concurrent callers wait for one another.

Importable: `make_model(name, out) -> Path`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAMP = ".tiny-model"
SEED = 0

# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------

# Same pre-tokenization as Qwen2/GLM-4 tokenizers (tiktoken-style regex,
# then byte-level), so timestamps, digits and punctuation split like they do
# with the real vocabularies.
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
NUM_BPE_TOKENS = 512  # at most: 256 byte tokens + merges the corpus yields

_WORDS = (
    "the a an is are was what which colour color shape square circle "
    "triangle red green blue yellow white black image video picture frame "
    "describe this that these two first second in on of and or with left "
    "right top bottom moving left to right seconds second user assistant "
    "system answer question how many there what happens Picture Video "
    "hello world model tiny random weights test"
).split()


def _corpus() -> Iterator[str]:
    words = _WORDS
    for i in range(400):
        a, b, c = (
            words[i % len(words)],
            words[(i * 7) % len(words)],
            words[(i * 13) % len(words)],
        )
        yield f"{a} {b} {c}, {i % 10}.{(i * 3) % 10} seconds <{i / 2:.1f} seconds> {i}"
        yield f"What is the {b} of the {c}? The {b} is {a}.\n"


def _train_bpe(special_tokens: list[str]) -> Any:
    """Train a byte-level BPE and append `special_tokens` after its vocab."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=NUM_BPE_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in special_tokens]
    )
    return tok


def _vocab_size(tokenizer: Any) -> int:
    """Embedding rows: the tokenizer size rounded up to 64, like real models pad."""
    return (len(tokenizer) + 63) // 64 * 64


# ---------------------------------------------------------------------------
# Shared sizes
# ---------------------------------------------------------------------------

TEXT = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=64,  # the CPU attention kernel rejects 16, accepts 64
    max_position_embeddings=4096,
    rms_norm_eps=1e-6,
)
VISION_HIDDEN = 128
VISION_HEADS = 2  # vision head_dim 64 too
VISION_DEPTH = 2


def _init_weights(model: Any, logit_gain: float = 4.0) -> None:
    """Deterministic random weights that give peaked, well separated logits.

    transformers' default init (std 0.02) makes a 2-layer model predict an
    almost flat distribution, so greedy decoding turns on near-ties and two
    correct implementations disagree. Here every matrix gets std
    1/sqrt(fan_in) (activations keep unit scale through the layers),
    embeddings std 1 and the LM head `logit_gain` times more, so that the top
    tokens are far apart. Norm weights are 1 + noise and biases are small
    noise rather than constants, so that a weight loaded into the wrong place
    changes the output.
    """
    import math

    import torch

    gen = torch.Generator().manual_seed(SEED)
    output = model.get_output_embeddings()
    with torch.no_grad():
        for module_name, module in sorted(model.named_modules()):
            for name, p in sorted(module.named_parameters(recurse=False)):
                noise = torch.randn(p.shape, generator=gen)
                if isinstance(module, torch.nn.Embedding):
                    p.copy_(noise)
                elif p.dim() >= 2:
                    std = 1.0 / math.sqrt(math.prod(p.shape[1:]))
                    if module is output:
                        std *= logit_gain
                    p.copy_(noise * std)
                elif name == "weight":  # norms
                    p.copy_(1.0 + 0.1 * noise)
                else:  # biases
                    p.copy_(0.1 * noise)


def _processor_kwargs(
    patch: int, merge: int, temporal: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Image and video processor kwargs (Qwen2-VL style): 2x2 to 8x8 merged
    patches an image, up to 16 such frames a video, sampled at 2 fps."""
    factor = patch * merge
    layout = dict(patch_size=patch, temporal_patch_size=temporal, merge_size=merge)
    image = dict(
        size={
            "shortest_edge": 2 * 2 * factor * factor,
            "longest_edge": 8 * 8 * factor * factor,
        },
        **layout,
    )
    video = dict(
        size={
            "shortest_edge": 2 * 2 * factor * factor,
            "longest_edge": 16 * 8 * 8 * factor * factor,
        },
        **layout,
        fps=2,
    )
    return image, video


def _save_model(
    out: Path,
    model_class: type[Any],
    config: Any,
    generation: dict[str, Any],
    processor: Any,
    architectures: list[str] | None = None,
) -> None:
    """Instantiate `model_class(config)` with _init_weights' weights and save it,
    its greedy generation config and `processor` into `out`; `architectures`
    (default: the class name) is what config.json lists."""
    import torch
    from transformers import GenerationConfig

    config.architectures = [model_class.__name__]
    torch.manual_seed(SEED)
    model = model_class(config).to(torch.float32)
    _init_weights(model)
    model.generation_config = GenerationConfig(**generation, do_sample=False)
    model.save_pretrained(out)
    if architectures:  # save_pretrained writes the class name
        config_file = out / "config.json"
        saved = json.loads(config_file.read_text())
        saved["architectures"] = architectures
        config_file.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    processor.save_pretrained(out)


# ---------------------------------------------------------------------------
# Qwen3-VL
# ---------------------------------------------------------------------------

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
QWEN_ADDED_TOKENS = ["<tool_call>", "</tool_call>", "<think>", "</think>"]

# The structure of Qwen3-VL's own template, without tools and reasoning.
QWEN3_VL_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}"
    "{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}"
    "{{- message['content'] }}"
    "{%- else %}"
    "{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}"
    "{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{%- set video_count.value = video_count.value + 1 %}"
    "{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in content %}"
    "{{- content['text'] }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


def _qwen_tokenizer() -> Any:
    from transformers import AddedToken, Qwen2Tokenizer

    trained = json.loads(_train_bpe([]).to_str())
    tokenizer = Qwen2Tokenizer(
        vocab=trained["model"]["vocab"],
        merges=[tuple(m) for m in trained["model"]["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        errors="replace",
        model_max_length=4096,
    )
    tokenizer.add_tokens(
        [AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS]
    )
    tokenizer.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t in QWEN_ADDED_TOKENS]
    )
    tokenizer.chat_template = QWEN3_VL_CHAT_TEMPLATE
    return tokenizer


def build_qwen3_vl(out: Path) -> None:
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = _qwen_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    patch, merge, temporal = 16, 2, 2
    image_kwargs, video_kwargs = _processor_kwargs(patch, merge, temporal)
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(**image_kwargs),
        video_processor=Qwen3VLVideoProcessor(
            **video_kwargs, min_frames=2, max_frames=16
        ),
        tokenizer=tokenizer,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    )

    config = Qwen3VLConfig(
        text_config=dict(
            **TEXT,
            vocab_size=_vocab_size(tokenizer),
            hidden_act="silu",
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                # sums to head_dim / 2; Qwen3-VL interleaves T/H/W sections
                "mrope_section": [12, 10, 10],
                "mrope_interleaved": True,
            },
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=VISION_DEPTH,
            hidden_size=VISION_HIDDEN,
            intermediate_size=256,
            num_heads=VISION_HEADS,
            patch_size=patch,
            spatial_merge_size=merge,
            temporal_patch_size=temporal,
            out_hidden_size=TEXT["hidden_size"],
            num_position_embeddings=16 * 16,
            deepstack_visual_indexes=[0, 1],
            hidden_act="gelu_pytorch_tanh",
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    generation = dict(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
    )
    _save_model(out, Qwen3VLForConditionalGeneration, config, generation, processor)


# ---------------------------------------------------------------------------
# GLM-4.6V and GLMGA (Glm4vForConditionalGeneration + Glm46VProcessor)
# ---------------------------------------------------------------------------

GLM_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<|begin_of_box|>",
    "<|end_of_box|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "/nothink",
]

# The structure of GLM-4.6V's own template, without tools and reasoning.
GLM46V_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' }}"
    "{%- if message['content'] is string %}"
    "{{- message['content'] }}"
    "{%- else %}"
    "{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{{- '<|begin_of_image|><|image|><|end_of_image|>' }}"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{{- '<|begin_of_video|><|video|><|end_of_video|>' }}"
    "{%- elif 'text' in content %}"
    "{{- content['text'] }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|assistant|>\\n' }}"
    "{%- endif %}"
)


# GLM-4.1V-9B-Thinking's template (the checkpoint ships it in its tokenizer):
# a role tag per message, images and videos as their placeholder triples.
GLM41V_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for msg in messages %}"
    "{%- if msg.role == 'system' %}"
    "<|system|>\n{{ msg.content }}"
    "{%- elif msg.role == 'user' %}"
    "<|user|>{{ '\n' }}"
    "{%- if msg.content is string %}"
    "{{ msg.content }}"
    "{%- else %}"
    "{%- for item in msg.content %}"
    "{%- if item.type == 'video' or 'video' in item %}"
    "<|begin_of_video|><|video|><|end_of_video|>"
    "{%- elif item.type == 'image' or 'image' in item %}"
    "<|begin_of_image|><|image|><|end_of_image|>"
    "{%- elif item.type == 'text' %}"
    "{{ item.text }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{%- elif msg.role == 'assistant' %}"
    "<|assistant|>\n{{ msg.content }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def fast_tokenizer(special_tokens: list[str], chat_template: str, **kwargs: Any) -> Any:
    """A locally trained `PreTrainedTokenizerFast` with the model's chat template."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_bpe(special_tokens), model_max_length=4096, **kwargs
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def _glm_tokenizer(chat_template: str = GLM46V_CHAT_TEMPLATE) -> Any:
    return fast_tokenizer(
        GLM_SPECIAL_TOKENS,
        chat_template,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )


def _build_glm4v(out: Path, *, glmga: bool, glm41v: bool = False) -> None:
    """GLM-4.6V-Flash layout (Glm4vConfig, model_type glm4v); `glmga`: a GLMGA
    checkpoint (GlmgaConfig, model_type glmga, GLMGA image/video processors,
    weights of transformers' Glm46VForConditionalGeneration); `glm41v`:
    GLM-4.1V-9B-Thinking's (Glm4vConfig, Glm4vProcessor with the Glm4v
    image/video processors, its chat template). All served by vLLM's
    Glm4vForConditionalGeneration."""
    from transformers import (
        Glm4vConfig,
        Glm4vForConditionalGeneration,
        Glm4vImageProcessor,
        Glm4vProcessor,
        Glm4vVideoProcessor,
        Glm46VForConditionalGeneration,
        Glm46VImageProcessor,
        Glm46VProcessor,
        Glm46VVideoProcessor,
        GlmgaConfig,
    )

    chat_template = GLM41V_CHAT_TEMPLATE if glm41v else GLM46V_CHAT_TEMPLATE
    tokenizer = _glm_tokenizer(chat_template)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in GLM_SPECIAL_TOKENS}
    patch, merge, temporal = 14, 2, 2
    image_kwargs, video_kwargs = _processor_kwargs(patch, merge, temporal)
    processor_class: Any = Glm46VProcessor
    if glmga:
        from transformers import GlmgaImageProcessor, GlmgaVideoProcessor

        image_processor = GlmgaImageProcessor(**image_kwargs)
        video_processor = GlmgaVideoProcessor(**video_kwargs, max_frames=16)
    elif glm41v:
        image_processor = Glm4vImageProcessor(**image_kwargs)
        video_processor = Glm4vVideoProcessor(**video_kwargs)
        processor_class = Glm4vProcessor
    else:
        image_processor = Glm46VImageProcessor(**image_kwargs)
        video_processor = Glm46VVideoProcessor(**video_kwargs)
    processor = processor_class(
        image_processor=image_processor,
        video_processor=video_processor,
        tokenizer=tokenizer,
        chat_template=chat_template,
    )

    eos = [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]
    config_class = GlmgaConfig if glmga else Glm4vConfig
    config = config_class(
        text_config=dict(
            **{k: v for k, v in TEXT.items() if k != "head_dim"},  # hidden / heads = 64
            vocab_size=_vocab_size(tokenizer),
            hidden_act="silu",
            attention_bias=True,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5,
                # sums to head_dim * partial_rotary_factor / 2
                "mrope_section": [4, 6, 6],
            },
            eos_token_id=eos,
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=VISION_DEPTH,
            hidden_size=VISION_HIDDEN,
            intermediate_size=TEXT["intermediate_size"],
            num_heads=VISION_HEADS,
            patch_size=patch,
            image_size=patch * 16,
            spatial_merge_size=merge,
            temporal_patch_size=temporal,
            out_hidden_size=TEXT["hidden_size"],
            hidden_act="silu",
            rms_norm_eps=1e-5,
        ),
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
        tie_word_embeddings=False,
    )
    generation = dict(eos_token_id=eos, pad_token_id=ids["<|endoftext|>"])
    if glmga:
        _save_model(
            out,
            Glm46VForConditionalGeneration,
            config,
            generation,
            processor,
            architectures=["Glm4vForConditionalGeneration"],
        )
    else:
        _save_model(out, Glm4vForConditionalGeneration, config, generation, processor)


def build_glm4_1v(out: Path) -> None:
    _build_glm4v(out, glmga=False, glm41v=True)


def build_glm4_6v(out: Path) -> None:
    _build_glm4v(out, glmga=False)


def build_glmga(out: Path) -> None:
    _build_glm4v(out, glmga=True)


# The remote-code models (auto_map) live in their own modules, which import this
# one: load them lazily. Their remote-code sources are in scripts/tiny_remote/.
def build_keye(out: Path) -> None:
    import tiny_keye

    tiny_keye.build_keye(out)


def build_keye_vl1_5(out: Path) -> None:
    import tiny_keye

    tiny_keye.build_keye_vl1_5(out)


def build_kimi_k25(out: Path) -> None:
    import tiny_kimi

    tiny_kimi.build(out)


def build_nano_nemotron_vl(out: Path) -> None:
    import tiny_nano

    tiny_nano.build(out)


# ---------------------------------------------------------------------------
# Registry, caching, CLI
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    build: Callable[[Path], None]
    description: str
    # Bump when the recipe changes so that cached checkpoints are rebuilt.
    version: int = 1


RECIPES: dict[str, Recipe] = {
    "qwen3_vl": Recipe(
        build_qwen3_vl, "Qwen3VLForConditionalGeneration, Qwen3VLProcessor", version=2
    ),
    "glm4_1v": Recipe(
        build_glm4_1v,
        "Glm4vForConditionalGeneration, Glm4vProcessor (GLM-4.1V-9B-Thinking layout)",
    ),
    "glm4_6v": Recipe(build_glm4_6v, "Glm4vForConditionalGeneration, Glm46VProcessor"),
    "glmga": Recipe(
        build_glmga,
        "GlmgaConfig (model_type glmga), Glm46VProcessor with Glmga image/video "
        "processors",
        version=2,
    ),
    "keye": Recipe(
        build_keye,
        "KeyeForConditionalGeneration, KeyeProcessor (remote code)",
    ),
    "keye_vl1_5": Recipe(
        build_keye_vl1_5,
        "KeyeVL1_5ForConditionalGeneration, KeyeVL1_5Processor (remote code)",
    ),
    "kimi_k25": Recipe(
        build_kimi_k25,
        "KimiK25ForConditionalGeneration, remote-code KimiK25VisionProcessor, "
        "DeepSeek-V3 text (VLLM_MLA_DISABLE=1), no weights (seeded random load)",
    ),
    "nano_nemotron_vl": Recipe(
        build_nano_nemotron_vl,
        "NemotronH_Nano_VL_V2 (remote-code config), NemotronH '*-', no weights "
        "(load_format=dummy)",
    ),
}


def _stamp(name: str) -> str:
    return json.dumps({"name": name, "recipe_version": RECIPES[name].version})


def is_complete(name: str, out: Path) -> bool:
    stamp = out / STAMP
    return stamp.is_file() and stamp.read_text() == _stamp(name)


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def make_model(name: str, out: Path) -> Path:
    """Build checkpoint `name` into `out` unless it is already there."""
    if name not in RECIPES:
        raise ValueError(
            f"unknown tiny model {name!r}; known: {', '.join(sorted(RECIPES))}"
        )
    out = Path(out).absolute()
    if is_complete(name, out):
        return out
    with _locked(out):
        if is_complete(name, out):  # built by a concurrent caller
            return out
        for stale in out.parent.glob(f".{out.name}.tmp-*"):  # from a killed build
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        tmp.chmod(0o755)
        try:
            RECIPES[name].build(tmp)
            (tmp / STAMP).write_text(_stamp(name))
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old)
            else:
                tmp.rename(out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "name",
        nargs="?",
        choices=[*sorted(RECIPES), "all"],
        help="model to build ('all': every model into OUT/NAME)",
    )
    parser.add_argument("--out", type=Path, help="output directory")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    args = parser.parse_args(argv)
    if args.list or args.name is None:
        for name, recipe in sorted(RECIPES.items()):
            print(f"{name:12} {recipe.description}")
        return 0 if args.list else 2
    if args.out is None:
        parser.error("--out is required")
    if args.name == "all":
        targets = [(name, args.out / name) for name in sorted(RECIPES)]
    else:
        targets = [(args.name, args.out)]
    for name, out in targets:
        cached = is_complete(name, out)
        path = make_model(name, out)
        print(f"{name}: {path}{' (cached)' if cached else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
