#!/usr/bin/env python3
"""Keye-VL / Keye-1.5-VL M-RoPE positions: v0.19.1 vs patched, CPU time.

    build/venv/bin/python scripts/bench_keye_mrope.py [--repeat 20]
        [--pristine build/src/vllm-0.19.1] [--patched build/vllm]
        [--min-speedup X]

Imports vLLM from the patched tree, then loads keye.py and keye_vl1_5.py of
the pristine tree side by side under other module names, in one process.
Both get_mrope_input_positions() run on the same prompts: the two of the
upstream issue, 16 images + a 128-frame video (~9.8k tokens) and 4 images +
a 512-frame video (~33k tokens); 120 images of 120 distinct shapes (~28k
tokens); and 30 images, a 96-frame video and 30 more images, with text
between them, every image of its own shape (~14k tokens). Each is laid out the
way each model's processor lays it out. No weights: the models are bare instances with a
dummy config. Keye-VL videos get a video_grid_thw of shape [1, 3], the only
shape v0.19.1 accepts.

Prints the median times and the speedup. Exit status 1 if the outputs
(positions and delta) differ, or if a speedup is below --min-speedup.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _bench import load_module, median_ms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pin import Layout, Pin  # noqa: E402

_LAYOUT = Layout.default()  # where the series and its build live
DEFAULT_PRISTINE = _LAYOUT.src / f"vllm-{Pin.load(_LAYOUT.version_file).version}"
DEFAULT_PATCHED = _LAYOUT.tree
PACKAGE = "vllm.model_executor.models"
MODELS = {  # module -> model class
    "keye": "KeyeForConditionalGeneration",
    "keye_vl1_5": "KeyeVL1_5ForConditionalGeneration",
}
IMAGE_TOKEN, VIDEO_TOKEN, FRAME_TOKEN, TEXT_TOKEN = 999, 888, 777, 7
MERGE = 2
IMAGE_GRID = (1, 28, 28)  # 196 tokens after merging
Item = tuple[str, tuple[int, int, int]]  # ("image" | "video", grid thw)


def _distinct_images() -> list[Item]:
    """120 images, every one of its own shape: (12..19) x (8..22) merged
    cells, 232 tokens on average."""
    return [
        ("image", (1, MERGE * a, MERGE * b))
        for a in range(12, 20)
        for b in range(8, 23)
    ]


def _interleaved() -> list[Item]:
    """30 images, a 96-frame video, 30 more images, every image of its own
    shape, with text between all of them. One video only: v0.19.1 reads the
    grid of the first video for every video of a prompt."""
    images = [
        ("image", (1, MERGE * a, MERGE * b))
        for a in range(10, 16)
        for b in range(6, 16)
    ]
    return images[:30] + [("video", (96, 20, 16))] + images[30:]


# name -> (text tokens before everything, items in prompt order)
PROMPTS: dict[str, tuple[int, list[Item]]] = {
    # 49 tokens/frame
    "16 images + 128 frames": (
        300,
        [("image", IMAGE_GRID)] * 16 + [("video", (128, 14, 14))],
    ),
    # 63 tokens/frame
    "4 images + 512 frames": (
        100,
        [("image", IMAGE_GRID)] * 4 + [("video", (512, 18, 14))],
    ),
    "120 images, 120 shapes": (100, _distinct_images()),
    "30 img, video, 30 img": (100, _interleaved()),
}


@dataclass
class Prompt:
    input_tokens: list[int]
    mm_features: list[Any]


def import_vllm_from(tree: Path) -> None:
    """Import `vllm` from `tree`; fail if that gives another copy."""
    sys.path.insert(0, str(tree))
    sys.dont_write_bytecode = True  # the pristine tree may be read-only
    import vllm

    if Path(vllm.__file__).resolve().parents[1] != tree.resolve():
        raise SystemExit(f"vllm imported from {vllm.__file__}, not from {tree}")


def load_side_by_side(pristine: Path, patched: Path) -> dict[str, dict[str, Any]]:
    """{"v0.19.1" | "patched": {module name: model class}}."""
    import_vllm_from(patched)
    patched_modules = {
        name: importlib.import_module(f"{PACKAGE}.{name}") for name in MODELS
    }
    # The pristine keye_vl1_5 imports `.keye`: let it find the pristine one.
    models_dir = pristine / "vllm" / "model_executor" / "models"
    pristine_keye = load_module(models_dir / "keye.py", f"{PACKAGE}.keye_v0_19_1")
    sys.modules[f"{PACKAGE}.keye"] = pristine_keye
    try:
        pristine_vl1_5 = load_module(
            models_dir / "keye_vl1_5.py", f"{PACKAGE}.keye_vl1_5_v0_19_1"
        )
    finally:
        sys.modules[f"{PACKAGE}.keye"] = patched_modules["keye"]
    pristine_modules = {"keye": pristine_keye, "keye_vl1_5": pristine_vl1_5}
    return {
        label: {name: getattr(modules[name], cls) for name, cls in MODELS.items()}
        for label, modules in (
            ("v0.19.1", pristine_modules),
            ("patched", patched_modules),
        )
    }


def make_model(cls: type) -> Any:
    model = object.__new__(cls)  # no weights: only `config` is used
    model.config = SimpleNamespace(
        image_token_id=IMAGE_TOKEN,
        video_token_id=VIDEO_TOKEN,
        vision_config=SimpleNamespace(spatial_merge_size=MERGE),
    )
    return model


def build_prompt(module: str, prefix: int, items: list[Item]) -> Prompt:
    """Keye-VL: every item is one contiguous run of its token. Keye-1.5-VL:
    every video frame comes after a frame token and a 2-token timestamp.
    Every item comes after 3 text tokens; 20 text tokens end the prompt."""
    import torch

    from vllm.multimodal.inputs import (
        MultiModalBatchedField,
        MultiModalFeatureSpec,
        MultiModalFieldElem,
        MultiModalFlatField,
        MultiModalKwargsItem,
        PlaceholderRange,
    )

    def feature(modality: str, grid: list, field: Any, start: int) -> Any:
        elem = MultiModalFieldElem(data=torch.tensor(grid), field=field)
        is_embed = None
        if modality == "video" and module == "keye_vl1_5":
            is_embed = torch.tensor(tokens[start:]) == VIDEO_TOKEN
        return MultiModalFeatureSpec(
            data=MultiModalKwargsItem({f"{modality}_grid_thw": elem}),
            modality=modality,
            identifier=f"{modality}-{start}",
            mm_position=PlaceholderRange(
                offset=start, length=len(tokens) - start, is_embed=is_embed
            ),
        )

    tokens = [TEXT_TOKEN] * prefix
    features = []
    for modality, (t, h, w) in items:
        tokens += [TEXT_TOKEN] * 3
        start = len(tokens)
        if modality == "image":
            tokens += [IMAGE_TOKEN] * (t * (h // MERGE) * (w // MERGE))
            grid = [t, h, w]
            features.append(feature("image", grid, MultiModalBatchedField(), start))
            continue
        for _ in range(t):
            if module == "keye_vl1_5":
                tokens += [FRAME_TOKEN, TEXT_TOKEN, TEXT_TOKEN]
            tokens += [VIDEO_TOKEN] * ((h // MERGE) * (w // MERGE))
        if module == "keye_vl1_5":  # one [1, h, w] row per frame, as its processor
            field: Any = MultiModalFlatField(slices=[slice(0, t)])
            features.append(feature("video", [[1, h, w]] * t, field, start))
        else:
            grid = [[t, h, w]]
            features.append(feature("video", grid, MultiModalBatchedField(), start))
    tokens += [TEXT_TOKEN] * 20
    return Prompt(tokens, features)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pristine", type=Path, default=DEFAULT_PRISTINE)
    parser.add_argument("--patched", type=Path, default=DEFAULT_PATCHED)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs (median)")
    parser.add_argument("--min-speedup", type=float, default=None)
    args = parser.parse_args()
    for tree in (args.pristine, args.patched):
        if not (tree / "vllm" / "model_executor" / "models" / "keye.py").is_file():
            raise SystemExit(f"{tree}: not a vLLM source tree")

    classes = load_side_by_side(args.pristine, args.patched)
    import torch

    rows = []
    status = 0
    for module in MODELS:
        for name, (prefix, items) in PROMPTS.items():
            prompt = build_prompt(module, prefix, items)
            results, times = {}, {}
            for label, by_module in classes.items():
                model = make_model(by_module[module])

                def run(model: Any = model) -> tuple[Any, int]:
                    return model.get_mrope_input_positions(
                        prompt.input_tokens, prompt.mm_features
                    )

                results[label] = run()
                times[label] = median_ms(run, args.repeat, warmup=1, device="cpu")
            (old_pos, old_delta), (new_pos, new_delta) = results.values()
            same = torch.equal(old_pos, new_pos) and old_delta == new_delta
            speedup = times["v0.19.1"] / times["patched"]
            if not same:
                status = 1
            if args.min_speedup is not None and speedup < args.min_speedup:
                status = 1
            rows.append(
                (module, name, len(prompt.input_tokens), *times.values(), speedup, same)
            )

    line = "{:<11} {:<23} {:>6} {:>10} {:>10} {:>8} {}"
    print(
        line.format(
            "model", "prompt", "tokens", "v0.19.1 ms", "patched ms", "speedup", "output"
        )
    )
    for module, name, tokens, old_ms, new_ms, speedup, same in rows:
        print(
            line.format(
                module,
                name,
                tokens,
                f"{old_ms:.3f}",
                f"{new_ms:.3f}",
                f"{speedup:.1f}x",
                "identical" if same else "DIFFERENT",
            )
        )
    print(
        f"median of {args.repeat} runs; pristine {args.pristine}, patched {args.patched}"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
