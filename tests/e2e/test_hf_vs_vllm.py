"""The installed (patched) vLLM generates what transformers generates.

For each tiny random-weight checkpoint (scripts/tiny_models.py) the same
chat prompts with generated images and videos go through `vllm.LLM.generate`
on CPU and through transformers' `generate`, greedy, float32. Two checks per
prompt:

* the prompt token ids after multimodal expansion are the same (placeholder
  counts, frame timestamps, begin/end tokens), and
* the generated tokens agree, more strictly than vLLM's own
  `check_logprobs_close` (tests/models/utils.py; see `check_logprobs_close`
  here): at every step up to the first mismatch, every token both sides
  report has the same logprob (the whole reported distribution, not only the
  chosen token), and a mismatch is only accepted as a tie of the two tokens.
  On the tiny Qwen3-VL, a blank image, a moved square or reversed vision
  patches keep each side's token in the other's top 5 but move the
  distribution by 0.03-1.2 nats, so vLLM's looser rule would accept an engine
  that ignores the image; the negative controls below check that this one
  does not.

Negative controls (`test_comparison_fails_for_a_different_image`): the
"image" case compared with transformers run on a blank image, the square
moved, and the vision patches reversed must fail.

GLM-4.xV prompts that mix images and a video run in transformers with its
placeholder mask split at the video tokens (`_glm_split_placeholder_mask`;
transformers itself rejects them). Pristine v0.19.1 is no reference there:
patch 0004 gives each video frame its own M-RoPE grid, and on the tiny
GLM-4.6V's interleaved prompt v0.19.1's first-token logprob is -0.699 where
transformers and the patched engine agree on -1.040.

The reference prompt is the model's official one: for Qwen3-VL videos that
is the format of Qwen's own processor, which transformers 5.x changed (see
`_qwen3_vl_official_video_format`).

One engine per model (module-scoped fixture), a few prompts, few tokens.
Expect about 40 s per model on 2 cores, most of it engine start-up.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

pytestmark = pytest.mark.e2e

MAX_TOKENS = 8
NUM_LOGPROBS = 5
# Both sides run float32 and agree to ~5e-6 here; the tolerance leaves three
# orders of magnitude for kernel differences and no more. The negative
# controls move some reported logprob by 2.7e-2 at least.
LOGPROB_ATOL = 1e-2

Video = tuple[np.ndarray, dict[str, Any]]

# ---------------------------------------------------------------------------
# Media and prompts
# ---------------------------------------------------------------------------


def make_image(width: int, height: int, colour: str, shape: str) -> Image.Image:
    img = Image.new("RGB", (width, height), "white")
    box = (width // 4, height // 4, 3 * width // 4, 3 * height // 4)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    return img


def make_video(
    num_frames: int,
    height: int,
    width: int,
    rgb: tuple[int, int, int],
    fps: float,
    *,
    sample: bool = False,
) -> Video:
    """A square of colour `rgb` moving left to right.

    With `sample=False` the frames count as already sampled (what vLLM's
    video loader hands over); with `sample=True` the processors pick frames
    at their own fps, which exercises each side's frame selection and
    timestamps.
    """
    frames = np.full((num_frames, height, width, 3), 255, dtype=np.uint8)
    side = height // 2
    for t in range(num_frames):
        x = (width - side) * t // max(num_frames - 1, 1)
        frames[t, height // 4 : height // 4 + side, x : x + side] = rgb
    metadata = {
        "total_num_frames": num_frames,
        "fps": fps,
        "duration": num_frames / fps,
        "frames_indices": list(range(num_frames)),
        "video_backend": "opencv",
        "do_sample_frames": sample,
    }
    return frames, metadata


@dataclass(frozen=True)
class Case:
    """A user turn: text, images and videos in the order they appear."""

    name: str
    content: tuple[Any, ...]  # str | Image.Image | Video

    @property
    def images(self) -> list[Image.Image]:
        return [c for c in self.content if isinstance(c, Image.Image)]

    @property
    def videos(self) -> list[Video]:
        return [c for c in self.content if isinstance(c, tuple)]

    def messages(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for c in self.content:
            if isinstance(c, str):
                items.append({"type": "text", "text": c})
            elif isinstance(c, Image.Image):
                items.append({"type": "image"})
            else:
                items.append({"type": "video"})
        return [{"role": "user", "content": items}]


CASES = [
    Case("image", (make_image(128, 96, "red", "square"), "What colour is the square?")),
    Case(
        "video",
        (make_video(8, 64, 96, (0, 0, 255), fps=4.0), "Where does the square move?"),
    ),
    Case(
        "video_sampled",
        (
            make_video(16, 64, 64, (255, 0, 255), fps=8.0, sample=True),
            "What moves?",
        ),
    ),
    Case(
        "two_videos",
        (
            make_video(4, 64, 64, (255, 0, 0), fps=2.0),
            "and",
            make_video(6, 96, 64, (0, 160, 0), fps=3.0),
            "Which video is longer?",
        ),
    ),
    Case(
        "interleaved",
        (
            "First",
            make_image(96, 96, "blue", "circle"),
            "then",
            make_video(4, 64, 96, (200, 200, 0), fps=2.0),
            "and last",
            make_image(64, 128, "green", "square"),
            "Describe them in order.",
        ),
    ),
]


def _moved_square(width: int, height: int, colour: str) -> Image.Image:
    img = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(img).rectangle((0, 0, width // 2, height // 2), fill=colour)
    return img


def _reverse_vision_patches(inputs: Any) -> None:
    inputs["pixel_values"] = inputs["pixel_values"].flip(0)


# Negative controls: transformers runs the "image" case (same prompt, same
# image size) with a different image, or the vision patches reversed; the
# comparison with vLLM on the real image must fail. (replacement image,
# extra fix of the processor output)
CONTROL_CASE = "image"
CONTROLS: dict[str, tuple[Image.Image | None, Callable[[Any], None] | None]] = {
    "blank_image": (Image.new("RGB", (128, 96), "white"), None),
    "moved_square": (_moved_square(128, 96, "red"), None),
    "reversed_patches": (None, _reverse_vision_patches),
}

# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def _vllm_has_glmga() -> str | None:
    from vllm.model_executor.models.glm4_1v import Glm4vProcessingInfo

    if hasattr(Glm4vProcessingInfo, "_is_glmga_model"):
        return None
    return (
        "the installed vLLM has no GLMGA support (vllm-project/vllm#43575 not applied)"
    )


def _glm_split_placeholder_mask(model: Any) -> None:
    """Let transformers' GLM-4.xV run prompts that mix images and videos.

    Its `get_placeholder_mask` counts every image token (which it also
    writes for video frames) as both an image and a video placeholder, so a
    prompt holding images and a video fails its count check. Split the mask
    at the processor's own `<|begin_of_video|>`/`<|end_of_video|>` tokens;
    for image-only or video-only prompts this is the mask it computes.
    """
    config, inner = model.config, model.model
    original = inner.get_placeholder_mask

    def get_placeholder_mask(
        input_ids: Any,
        inputs_embeds: Any,
        image_features: Any = None,
        video_features: Any = None,
    ) -> tuple[Any, Any]:
        if input_ids is None:
            return original(input_ids, inputs_embeds, image_features, video_features)
        in_video = (input_ids == config.video_start_token_id).cumsum(-1) > (
            input_ids == config.video_end_token_id
        ).cumsum(-1)
        token = input_ids == config.image_token_id
        image, video = token & ~in_video, token & in_video
        hidden = inputs_embeds.shape[-1]
        for mask, features in ((image, image_features), (video, video_features)):
            if features is not None and mask.sum() * hidden != features.numel():
                raise ValueError(
                    f"{int(mask.sum())} placeholders for {features.shape[0]} features"
                )
        return image.unsqueeze(-1), video.unsqueeze(-1)

    inner.get_placeholder_mask = get_placeholder_mask


def _qwen3_vl_official_video_format(inputs: Any, config: Any) -> None:
    """Unwrap expanded videos the way Qwen's own processor does.

    Qwen's Qwen3-VL processor (transformers 4.57) and vLLM replace the whole
    `<|vision_start|><|video_pad|><|vision_end|>` by `<t seconds>
    <|vision_start|>...<|vision_end|>` per frame; transformers 5.x replaces
    only `<|video_pad|>` and keeps the outer pair. Drop that outer pair (a
    start not followed by a pad token, an end right after an end) from every
    per-token tensor so that transformers runs the official prompt.
    """
    ids = inputs["input_ids"][0].tolist()
    pads = {config.image_token_id, config.video_token_id}
    drop = {
        i
        for i, tok in enumerate(ids)
        if (
            tok == config.vision_start_token_id
            and i + 1 < len(ids)
            and ids[i + 1] not in pads
        )
        or (tok == config.vision_end_token_id and i > 0 and ids[i - 1] == tok)
    }
    if not drop:
        return
    keep = torch.tensor([i not in drop for i in range(len(ids))])
    for key, value in list(inputs.items()):
        if isinstance(value, torch.Tensor) and value.shape[:2] == (1, len(ids)):
            inputs[key] = value[:, keep]


def _glm_hf_prompt_ids(ids: list[int], config: Any) -> list[int]:
    """GLM-4.6V's HF processor writes video frames with the image token;
    vLLM writes the video token (the model does not embed either)."""
    out, in_video = [], False
    for tok in ids:
        if tok == config.video_start_token_id:
            in_video = True
        elif tok == config.video_end_token_id:
            in_video = False
        out.append(
            config.video_token_id if in_video and tok == config.image_token_id else tok
        )
    return out


@dataclass(frozen=True)
class Model:
    name: str
    # vLLM's per-prompt video limit for the model (get_supported_mm_limits:
    # Qwen3-VL unlimited, GLM-4.xV 1 in v0.19.1)
    max_videos: int
    requires: Callable[[], str | None] = lambda: None
    hf_prompt_ids: Callable[[list[int], Any], list[int]] = lambda ids, config: ids
    # fixes transformers' processor output in place before generating
    hf_fix_inputs: Callable[[Any, Any], None] = lambda inputs, config: None
    hf_unsupported: dict[str, str] = field(default_factory=dict)
    # fixes the transformers model in place after loading it
    hf_fix_model: Callable[[Any], None] = lambda model: None


MODELS = [
    Model("qwen3_vl", max_videos=2, hf_fix_inputs=_qwen3_vl_official_video_format),
    Model(
        "glm4_6v",
        max_videos=1,
        hf_prompt_ids=_glm_hf_prompt_ids,
        hf_fix_model=_glm_split_placeholder_mask,
    ),
    Model(
        "glmga",
        max_videos=1,
        requires=_vllm_has_glmga,
        hf_prompt_ids=_glm_hf_prompt_ids,
        hf_fix_model=_glm_split_placeholder_mask,
    ),
]

# ---------------------------------------------------------------------------
# Running both sides
# ---------------------------------------------------------------------------


@dataclass
class Generation:
    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    logprobs: list[dict[int, float]]


@dataclass
class Runs:
    model: Model
    path: Path
    prompts: dict[str, str] = field(default_factory=dict)
    vllm: dict[str, Generation | BaseException] = field(default_factory=dict)
    hf: dict[str, Generation | BaseException] = field(default_factory=dict)
    # transformers on the "image" case with a different image (CONTROLS)
    hf_controls: dict[str, Generation | BaseException] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _run_vllm(runs: Runs, cases: list[Case]) -> None:
    from vllm import LLM, SamplingParams

    llm = LLM(
        model=str(runs.path),
        dtype="float32",
        max_model_len=4096,
        max_num_seqs=2,
        limit_mm_per_prompt={"image": 2, "video": runs.model.max_videos},
        enforce_eager=True,  # torch.compile would add ~2 minutes per model
        seed=0,
    )
    params = SamplingParams(
        temperature=0.0, max_tokens=MAX_TOKENS, logprobs=NUM_LOGPROBS
    )
    try:
        for case in cases:
            mm_data: dict[str, Any] = {}
            if case.images:
                mm_data["image"] = case.images
            if case.videos:
                mm_data["video"] = case.videos
            try:
                [out] = llm.generate(
                    {"prompt": runs.prompts[case.name], "multi_modal_data": mm_data},
                    params,
                    use_tqdm=False,
                )
            except Exception as exc:  # reported by the case's own test
                runs.vllm[case.name] = exc
                continue
            completion = out.outputs[0]
            runs.vllm[case.name] = Generation(
                prompt_ids=list(out.prompt_token_ids),
                token_ids=list(completion.token_ids),
                text=completion.text,
                logprobs=[
                    {tok: lp.logprob for tok, lp in step.items()}
                    for step in completion.logprobs
                ],
            )
    finally:
        llm.llm_engine.engine_core.shutdown()
        del llm
        gc.collect()


def _hf_generate(
    runs: Runs,
    model: Any,
    processor: Any,
    case: Case,
    prompt: str,
    extra_fix: Callable[[Any], None] | None = None,
) -> Generation | BaseException:
    from transformers.video_utils import VideoMetadata

    kwargs: dict[str, Any] = {}
    if case.images:
        kwargs["images"] = case.images
    if case.videos:
        kwargs["videos"] = [frames for frames, _ in case.videos]
        kwargs["video_metadata"] = [
            VideoMetadata(**{k: v for k, v in meta.items() if k != "do_sample_frames"})
            for _, meta in case.videos
        ]
        [sample] = {meta["do_sample_frames"] for _, meta in case.videos}
        kwargs["do_sample_frames"] = sample
    try:
        inputs = processor(text=[prompt], return_tensors="pt", **kwargs)
        runs.model.hf_fix_inputs(inputs, model.config)
        if extra_fix is not None:
            extra_fix(inputs)
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=MAX_TOKENS,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
            )
    except Exception as exc:  # reported by the case's own test
        return exc
    prompt_ids = inputs["input_ids"][0].tolist()
    new_ids = out.sequences[0, len(prompt_ids) :].tolist()
    logprobs = []
    for tok, logits in zip(new_ids, out.logits):
        lp = logits[0].float().log_softmax(-1)
        top = lp.topk(NUM_LOGPROBS).indices.tolist()
        logprobs.append({t: lp[t].item() for t in {*top, tok}})
    return Generation(
        prompt_ids=runs.model.hf_prompt_ids(prompt_ids, model.config),
        token_ids=new_ids,
        text=processor.decode(new_ids, skip_special_tokens=True),
        logprobs=logprobs,
    )


def _run_hf(runs: Runs, cases: list[Case], processor: Any) -> None:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(
        runs.path, dtype=torch.float32
    ).eval()
    runs.model.hf_fix_model(model)
    for case in cases:
        runs.hf[case.name] = _hf_generate(
            runs, model, processor, case, runs.prompts[case.name]
        )
        if case.name != CONTROL_CASE:
            continue
        for control, (image, extra_fix) in CONTROLS.items():
            content = tuple(
                image if image is not None and isinstance(c, Image.Image) else c
                for c in case.content
            )
            runs.hf_controls[control] = _hf_generate(
                runs,
                model,
                processor,
                Case(control, content),
                runs.prompts[case.name],
                extra_fix,
            )
    del model
    gc.collect()


@pytest.fixture(scope="module", params=MODELS, ids=lambda m: m.name)
def runs(
    request: pytest.FixtureRequest, tiny_model: Callable[[str], Path]
) -> Iterator[Runs]:
    model: Model = request.param
    if reason := model.requires():
        pytest.skip(reason)
    from transformers import AutoProcessor

    result = Runs(model=model, path=tiny_model(model.name))
    processor = AutoProcessor.from_pretrained(result.path)
    cases, hf_cases = [], []
    for case in CASES:
        if len(case.videos) > model.max_videos:
            result.skipped[case.name] = (
                f"vLLM allows {model.max_videos} video(s) per prompt for {model.name}"
            )
            continue
        result.prompts[case.name] = processor.apply_chat_template(
            case.messages(), add_generation_prompt=True, tokenize=False
        )
        cases.append(case)
        if case.name in model.hf_unsupported:
            result.skipped[case.name] = model.hf_unsupported[case.name]
        else:
            hf_cases.append(case)
    start = time.monotonic()
    _run_vllm(result, cases)
    middle = time.monotonic()
    _run_hf(result, hf_cases, processor)
    print(
        f"{model.name}: vLLM {middle - start:.0f}s (incl. startup), "
        f"transformers {time.monotonic() - middle:.0f}s for {len(hf_cases)} prompts "
        f"and {len(result.hf_controls)} controls"
    )
    yield result


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def _first_difference(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b))
    )


def check_logprobs_close(
    hf: Generation, vllm: Generation, label: str, atol: float = LOGPROB_ATOL
) -> None:
    """The two greedy generations agree (stricter than vLLM's rule).

    At every step up to the first mismatch:
    - each side's token is among the tokens the other side reports;
    - every token both sides report has the same logprob within `atol`;
    - a token only one side reports is not more likely there than the other
      side's least likely reported token (it would have reported it);
    and the first mismatch must be a tie: on each side, the two tokens'
    logprobs are within `atol`. After it the sequences diverge, unchecked.
    """
    max_diff = 0.0
    for i, (hf_tok, vllm_tok) in enumerate(zip(hf.token_ids, vllm.token_ids)):
        a, b = hf.logprobs[i], vllm.logprobs[i]
        context = (
            f"{label}: step {i}, matched {hf.token_ids[:i]}\n"
            f"  transformers {hf.token_ids} {hf.text!r} top {a}\n"
            f"  vLLM         {vllm.token_ids} {vllm.text!r} top {b}"
        )
        assert hf_tok in b and vllm_tok in a, (
            f"greedy tokens not in each other's top-{NUM_LOGPROBS}\n{context}"
        )
        common = a.keys() & b.keys()
        worst = max(common, key=lambda t: abs(a[t] - b[t]))
        diff = abs(a[worst] - b[worst])
        max_diff = max(max_diff, diff)
        assert diff <= atol, (
            f"logprob of token {worst} differs by {diff:.4f} (> {atol})\n{context}"
        )
        for mine, theirs in ((a, b), (b, a)):
            floor = min(theirs.values())
            for t in mine.keys() - common:
                assert mine[t] <= floor + atol, (
                    f"token {t} (logprob {mine[t]:.4f}) is missing on one side "
                    f"whose top-{NUM_LOGPROBS} goes down to {floor:.4f}\n{context}"
                )
        if hf_tok != vllm_tok:
            gap = max(a[hf_tok] - a[vllm_tok], b[vllm_tok] - b[hf_tok])
            assert gap <= atol, (
                f"greedy tokens differ by {gap:.4f} nats, not a tie\n{context}"
            )
            print(f"{label}: {i} tokens identical, then a tie ({gap:.1e})")
            return  # the sequences diverge from here
    assert len(hf.token_ids) == len(vllm.token_ids), (
        f"{label}: one side stopped early\n  transformers {hf.token_ids}\n  vLLM         {vllm.token_ids}"
    )
    print(
        f"{label}: all {len(hf.token_ids)} tokens identical, "
        f"max |logprob difference| {max_diff:.1e}"
    )


def _result(runs: Runs, side: str, case: str) -> Generation:
    value = getattr(runs, side)[case]
    if isinstance(value, BaseException):
        raise AssertionError(
            f"{runs.model.name}/{case}: {side} failed: {value!r}"
        ) from value
    return value


@pytest.mark.parametrize("control", list(CONTROLS))
def test_comparison_fails_for_a_different_image(runs: Runs, control: str) -> None:
    """Negative control: vLLM on the image vs transformers on another one."""
    if CONTROL_CASE in runs.skipped:
        pytest.skip(runs.skipped[CONTROL_CASE])
    vllm = _result(runs, "vllm", CONTROL_CASE)
    hf = _result(runs, "hf_controls", control)
    with pytest.raises(AssertionError):
        check_logprobs_close(hf, vllm, f"{runs.model.name}/{control}")


@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_generation_matches_transformers(runs: Runs, case: str) -> None:
    if case in runs.skipped:
        pytest.skip(runs.skipped[case])
    label = f"{runs.model.name}/{case}"
    vllm = runs.vllm[case]
    if isinstance(vllm, BaseException):
        raise AssertionError(
            f"{label}: vLLM failed on a prompt transformers accepts: {vllm!r}"
        ) from vllm
    hf = runs.hf[case]
    if isinstance(hf, BaseException):
        raise AssertionError(f"{label}: transformers failed: {hf!r}") from hf

    assert hf.token_ids, f"{label}: transformers generated nothing"
    i = _first_difference(hf.prompt_ids, vllm.prompt_ids)
    assert hf.prompt_ids == vllm.prompt_ids, (
        f"{label}: prompt token ids differ at {i} (lengths {len(hf.prompt_ids)} vs {len(vllm.prompt_ids)})\n"
        f"  transformers ...{hf.prompt_ids[max(0, i - 5) : i + 10]}\n"
        f"  vLLM         ...{vllm.prompt_ids[max(0, i - 5) : i + 10]}"
    )
    check_logprobs_close(hf, vllm, label)
