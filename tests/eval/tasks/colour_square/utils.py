"""Dataset, image and scoring functions of the local `colour_square` task."""

from __future__ import annotations

import json
import string
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
from PIL import Image, ImageDraw

DATASET = Path(__file__).resolve().parent / "colour_square.jsonl"


def load_dataset(**kwargs: Any) -> datasets.DatasetDict:
    """The documents from the shipped JSONL file (no hub, no cache)."""
    rows = [
        json.loads(line)
        for line in DATASET.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def draw(doc: dict[str, Any]) -> Image.Image:
    width, height = int(doc["width"]), int(doc["height"])
    left, top, side = int(doc["left"]), int(doc["top"]), int(doc["side"])
    if not (0 <= left <= width - side and 0 <= top <= height - side):
        raise ValueError(f"document {doc['id']}: square does not fit the image")
    img = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(img).rectangle(
        (left, top, left + side - 1, top + side - 1), fill=tuple(doc["rgb"])
    )
    return img


def doc_to_image(doc: dict[str, Any]) -> list[Image.Image]:
    return [draw(doc)]


def _normalize(text: str) -> str:
    text = text.strip().lower()
    return text.translate(str.maketrans("", "", string.punctuation)).strip()


def first_word(text: str) -> str:
    words = _normalize(text).split()
    return words[0] if words else ""


def char_f1(prediction: str, reference: str) -> float:
    """F1 of the character multisets: partial credit, 1.0 only if equal."""
    pred = Counter(_normalize(prediction).replace(" ", ""))
    ref = Counter(_normalize(reference).replace(" ", ""))
    common = sum((pred & ref).values())
    if common == 0:
        return 0.0
    precision = common / sum(pred.values())
    recall = common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    prediction = results[0]
    answer = str(doc["answer"])
    return {
        "exact_match": float(first_word(prediction) == answer),
        # Whole response: partial credit, and it moves with any change of
        # the generated text (what a pristine-vs-patched comparison needs).
        "char_f1": char_f1(prediction, answer),
    }
