"""The local lm-eval task `colour_square` (tests/eval/tasks) and its data."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TASK_DIR = ROOT / "tests" / "eval" / "tasks" / "colour_square"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"colour_square_{name}", TASK_DIR / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


make_dataset = _load("make_dataset")
utils = _load("utils")

# Hand-picked reference RGB of each colour name (not the generator's table):
# a drawn square must be nearer to its own name than to any other.
REFERENCE_RGB = {
    "red": (255, 0, 0),
    "green": (0, 160, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "orange": (255, 140, 0),
    "purple": (128, 0, 128),
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
}


def _docs() -> list[dict[str, object]]:
    lines = (TASK_DIR / "colour_square.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in lines.splitlines()]


def test_shipped_dataset_is_reproducible() -> None:
    shipped = (TASK_DIR / "colour_square.jsonl").read_text(encoding="utf-8")
    assert make_dataset.render(make_dataset.make_docs()) == shipped


def test_sixteen_docs_two_per_colour() -> None:
    docs = _docs()
    assert len(docs) == 16
    assert sorted(d["id"] for d in docs) == list(range(16))
    assert Counter(d["answer"] for d in docs) == {c: 2 for c in REFERENCE_RGB}


@pytest.mark.parametrize("doc", _docs(), ids=lambda d: f"doc{d['id']}")
def test_image_shows_a_square_of_the_answer_colour(doc: dict[str, object]) -> None:
    (img,) = utils.doc_to_image(doc)
    pixels = np.asarray(img)
    assert pixels.shape == (doc["height"], doc["width"], 3)
    # The non-white pixels are exactly the square at (left, top) of side.
    ys, xs = np.nonzero((pixels != 255).any(axis=-1))
    side, left, top = doc["side"], doc["left"], doc["top"]
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (
        left,
        left + side,
        top,
        top + side,
    )
    assert len(xs) == side * side
    centre = pixels[top + side // 2, left + side // 2].astype(int)
    nearest = min(
        REFERENCE_RGB,
        key=lambda c: int(((centre - np.array(REFERENCE_RGB[c])) ** 2).sum()),
    )
    assert nearest == doc["answer"]


@pytest.mark.parametrize(
    ("response", "exact", "f1"),
    [
        ("Red.", 1.0, 1.0),
        ("  red square", 1.0, 2 * (3 / 9) * 1 / (3 / 9 + 1)),  # 9 chars, 3 shared
        ("reed", 0.0, 2 * (3 / 4) * 1 / (3 / 4 + 1)),  # P=3/4, R=1
        ("dog", 0.0, 2 * (1 / 3) * (1 / 3) / (2 / 3)),  # only "d" shared
        ("blue", 0.0, 2 * (1 / 4) * (1 / 3) / (1 / 4 + 1 / 3)),  # only "e"
        ("sun", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_process_results(response: str, exact: float, f1: float) -> None:
    got = utils.process_results({"answer": "red"}, [response])
    assert got["exact_match"] == exact
    assert got["char_f1"] == pytest.approx(f1)


def test_lm_eval_loads_the_task_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(TASK_DIR.parent), include_defaults=False)
    task = tm.load(["colour_square"])["tasks"]["colour_square"]
    docs = list(task.test_docs())
    assert len(docs) == 16
    doc = docs[0]
    assert task.doc_to_text(doc).count("<image>") == 1
    assert task.doc_to_target(doc) == doc["answer"]
    assert len(task.doc_to_image(doc)) == 1
