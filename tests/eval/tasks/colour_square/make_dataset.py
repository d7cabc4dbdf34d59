#!/usr/bin/env python3
"""Write colour_square.jsonl: the documents of the `colour_square` task.

Each document describes one image (a filled square of a named colour on a
white background) and the question about it; utils.doc_to_image draws the
image from these fields. The file is generated from a fixed seed, so running
this script again reproduces it byte for byte (a test checks that).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASET = HERE / "colour_square.jsonl"
NUM_DOCS = 16
SEED = 20260419

# RGB of each answer colour, clearly apart from each other and from white.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 25, 25),
    "green": (30, 160, 40),
    "blue": (30, 60, 230),
    "yellow": (245, 225, 30),
    "orange": (245, 140, 20),
    "purple": (130, 40, 160),
    "black": (10, 10, 10),
    "grey": (128, 128, 128),
}
QUESTION = "What colour is the square? Answer with one word."


def make_docs(num_docs: int = NUM_DOCS, seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    names = sorted(COLOURS)
    docs: list[dict[str, object]] = []
    for i in range(num_docs):
        colour = names[i % len(names)]
        # Non-square images: an M-RoPE bug that swaps height and width
        # changes the positions of their tokens.
        width, height = rng.sample((64, 96, 128), 2)
        side = rng.randrange(min(width, height) // 4, min(width, height) // 2 + 1)
        docs.append(
            {
                "id": i,
                "colour": colour,
                "rgb": list(COLOURS[colour]),
                "width": width,
                "height": height,
                "left": rng.randrange(0, width - side + 1),
                "top": rng.randrange(0, height - side + 1),
                "side": side,
                "question": QUESTION,
                "answer": colour,
            }
        )
    rng.shuffle(docs)
    return docs


def render(docs: list[dict[str, object]]) -> str:
    return "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs)


def main() -> int:
    DATASET.write_text(render(make_docs()), encoding="utf-8")
    print(f"wrote {DATASET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
