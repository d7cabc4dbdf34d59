"""Schema of the lm-eval configs in tests/eval/configs and eval_gpu.py's gate."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import eval_gpu  # noqa: E402

CONFIG_DIR = ROOT / "tests" / "eval" / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))

# The real checkpoints the series touches (issue 8, item 5), and its PRs.
EXPECTED_MODELS = {
    "Kwai-Keye/Keye-VL-1_5-8B",
    "zai-org/GLM-4.6V-Flash",
    "moonshotai/Kimi-K2.5",
    "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16",
    "Qwen/Qwen3-VL-8B-Instruct",
}
SERIES_PRS = {"#38727", "#39869", "#41234", "#43575", "#44493"}


def _raw(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_valid(path: Path) -> None:
    cfg = eval_gpu.load_config(path)
    # File name is the checkpoint name, optionally with a variant suffix.
    assert path.stem.startswith(cfg["model_name"].split("/")[1])
    for task in cfg["tasks"]:
        for metric in task["metrics"]:
            if metric["value"] is None:
                assert "pristine v0.19.1" in metric["baseline"]


def test_every_model_and_patch_has_a_config() -> None:
    cfgs = [eval_gpu.load_config(p) for p in CONFIGS]
    assert {c["model_name"] for c in cfgs} == EXPECTED_MODELS
    assert {p for c in cfgs for p in c["series_patches"]} == SERIES_PRS


def test_list_file_names_every_config() -> None:
    listed = (CONFIG_DIR / "models-mm-series.txt").read_text().split()
    assert sorted(listed) == [p.name for p in CONFIGS]


def test_keye_config_loads_remote_code_and_waits_for_a_pristine_baseline() -> None:
    # Keye-VL-1.5's config and processor exist only as remote code (auto_map).
    cfg = eval_gpu.load_config(CONFIG_DIR / "Keye-VL-1_5-8B.yaml")
    assert cfg["trust_remote_code"] is True
    assert cfg["series_patches"] == ["#39869"]
    [metric] = [m for t in cfg["tasks"] for m in t["metrics"]]
    assert metric["value"] is None and "pristine v0.19.1" in metric["baseline"]


GOOD: dict[str, Any] = {
    "model_name": "org/model",
    "backend": "vllm-vlm",
    "tasks": [{"name": "chartqa", "metrics": [{"name": "acc,none", "value": 0.5}]}],
    "limit": 10,
    "num_fewshot": 0,
    "rtol": 0.05,
}


def test_minimal_config_is_valid() -> None:
    assert eval_gpu.validate_config(copy.deepcopy(GOOD)) == GOOD


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    node: Any = cfg
    for key in path:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("limit", _DELETE, "missing required key 'limit'"),
        ("max_len", 4096, "unknown keys ['max_len']"),
        ("backend", "hf", "backend must be one of"),
        ("model_name", "no-org", "model_name must be 'org/name'"),
        ("limit", True, "limit must be"),
        ("limit", 0, "limit must be >= 1"),
        ("rtol", 0, "rtol must be in (0, 1)"),
        ("rtol", "0.05", "rtol must be"),
        ("tensor_parallel_size", 0, "tensor_parallel_size must be >= 1"),
        ("series_patches", ["39869"], "series_patches entries"),
        ("tasks", [], "tasks must not be empty"),
        ("tasks.0.metrics", [], "metrics must be a non-empty list"),
        ("tasks.0.metrics.0.name", "acc", "name must be 'metric,filter'"),
        ("tasks.0.metrics.0.value", 1.5, "value must be in [0, 1]"),
        ("tasks.0.metrics.0.value", "0.5", "value must be a number or null"),
        ("tasks.0.metrics.0.value", None, "a baseline note is required"),
        ("tasks.0.metrics.0.expected", 0.5, "unknown keys"),
    ],
)
def test_invalid_config_is_rejected(dotted: str, value: Any, message: str) -> None:
    cfg = copy.deepcopy(GOOD)
    _set(cfg, dotted, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        eval_gpu.validate_config(cfg, "cfg")


def test_null_value_with_baseline_note_is_valid() -> None:
    cfg = copy.deepcopy(GOOD)
    cfg["tasks"][0]["metrics"][0] = {
        "name": "acc,none",
        "value": None,
        "baseline": "measure on pristine v0.19.1 first",
    }
    eval_gpu.validate_config(cfg)


def _no_run(*args: object) -> dict[str, Any]:
    raise AssertionError("eval_gpu must not run lm-eval here")


def test_without_gpu_it_explains_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(eval_gpu, "run", _no_run)
    assert eval_gpu.main(["Keye-VL-1_5-8B"]) == eval_gpu.EXIT_NEEDS_GPU
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and "model hub" in err
    assert "Kwai-Keye/Keye-VL-1_5-8B" in err and "Nothing was run" in err


def test_with_gpus_but_hub_offline_it_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(eval_gpu, "run", _no_run)
    assert eval_gpu.main(["Kimi-K2.5"]) == eval_gpu.EXIT_NEEDS_GPU
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_too_few_gpus_for_tensor_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    cfg = eval_gpu.load_config(CONFIG_DIR / "Kimi-K2.5.yaml")
    assert eval_gpu.preflight(cfg, 8) == "needs 8 GPUs (tensor_parallel_size), found 1"


def _one_metric(value: float | None) -> dict[str, Any]:
    cfg = copy.deepcopy(GOOD)
    cfg["tasks"][0]["metrics"][0]["value"] = value
    cfg["tasks"][0]["metrics"][0]["baseline"] = "measure on pristine v0.19.1 first"
    return cfg


@pytest.mark.parametrize(
    ("expected", "measured", "status"),
    [
        # rtol 0.05: the floor for 0.8 is 0.76 (vLLM's one-sided rule).
        (0.8, 0.77, 0),
        (0.8, 0.76, 0),
        (0.8, 0.75, 1),
        (0.8, 0.95, 0),
        (None, 0.5, eval_gpu.EXIT_NO_BASELINE),
    ],
)
def test_check_applies_rtol(
    expected: float | None, measured: float, status: int
) -> None:
    cfg = _one_metric(expected)
    assert eval_gpu.check(cfg, {"chartqa": {"acc,none": measured}}) == status
