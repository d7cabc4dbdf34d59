"""scripts/bench_keye_mrope.py runs and prints its table.

The benchmark runs once, with one timed repetition, in a subprocess of
build/venv/bin/python; the test is skipped only if that venv has no vLLM.
KEYE_BENCH_PATCHED=<vLLM tree> benchmarks that tree instead of build/vllm
(e.g. a worktree holding the patches).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_keye_mrope.py"
VENV_PY = ROOT / "build" / "venv" / "bin" / "python"
PATCHED = Path(os.environ.get("KEYE_BENCH_PATCHED", ROOT / "build" / "vllm"))

# model, prompt, tokens, v0.19.1 ms, patched ms, speedup, output
PROMPTS = {  # prompt -> token range (Keye-1.5-VL adds 3 tokens per frame)
    "16 images + 128 frames": (9_000, 11_000),
    "4 images + 512 frames": (32_000, 36_000),
    "120 images, 120 shapes": (27_000, 29_000),
    "30 img, video, 30 img": (15_000, 17_000),
}
ROW = re.compile(
    r"^(keye|keye_vl1_5) +(" + "|".join(map(re.escape, PROMPTS)) + ") +"
    r"(\d+) +(\d+\.\d{3}) +(\d+\.\d{3}) +(\d+\.\d)x +(identical|DIFFERENT)$"
)


def venv_has_vllm() -> bool:
    if not VENV_PY.exists():
        return False
    probe = "import importlib.util, sys; sys.exit(not importlib.util.find_spec('vllm'))"
    return subprocess.run([str(VENV_PY), "-c", probe], timeout=120).returncode == 0


@pytest.mark.skipif(not venv_has_vllm(), reason="build/venv has no vllm (make build)")
def test_bench_prints_table() -> None:
    proc = subprocess.run(
        [str(VENV_PY), str(SCRIPT), "--repeat", "1", "--patched", str(PATCHED)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    lines = proc.stdout.splitlines()
    header = [line for line in lines if line.startswith("model ")]
    assert header and header[0].split() == [
        "model", "prompt", "tokens", "v0.19.1", "ms", "patched", "ms", "speedup",
        "output",
    ]  # fmt: skip
    rows = [m.groups() for line in lines if (m := ROW.match(line))]
    assert [(model, prompt) for model, prompt, *_ in rows] == [
        (model, prompt) for model in ("keye", "keye_vl1_5") for prompt in PROMPTS
    ]
    for _, prompt, tokens, old_ms, new_ms, speedup, output in rows:
        low, high = PROMPTS[prompt]
        assert low <= int(tokens) <= high
        assert float(old_ms) > 0 and float(new_ms) > 0
        ratio = float(old_ms) / float(new_ms)
        assert abs(float(speedup) - ratio) <= 0.05 + 0.01 * ratio
        assert output == "identical"
    assert "median of 1 runs" in proc.stdout
