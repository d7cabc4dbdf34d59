#!/usr/bin/env python3
"""lm-eval accuracy check of one real checkpoint (GPU host, model hub).

    python scripts/eval_gpu.py MODEL [--tp N] [--limit N]

MODEL is a config name in tests/eval/configs/ (e.g. `Keye-VL-1_5-8B`) or a
path to such a YAML file. The configs follow vLLM's
.buildkite/lm-eval-harness/configs: model_name, backend, tasks with metrics
and expected `value`, limit, num_fewshot, rtol. A metric whose value is still
null has a `baseline` note: measure it with pristine v0.19.1 first
(`PYTHONPATH=build/pristine python scripts/eval_gpu.py MODEL`) and write the
measured value into the config.

Without a CUDA GPU (or with the hub switched off) it says what it needs and
exits with status 2 before loading anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "tests" / "eval" / "configs"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pin import Layout  # noqa: E402

_LAYOUT = Layout.default()  # where the series and its build live
OUT_DIR = _LAYOUT.build / "eval-gpu"
EXIT_NEEDS_GPU = 2
EXIT_NO_BASELINE = 3

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "model_name": str,
    "backend": str,
    "tasks": list,
    "limit": int,
    "num_fewshot": int,
    "rtol": float,
}
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "trust_remote_code": bool,
    "max_model_len": int,
    "tensor_parallel_size": int,
    "gen_kwargs": str,
    "extra_model_args": dict,
    "env_vars": dict,
    "series_patches": list,
    "apply_chat_template": bool,
    "batch_size": (int, str),
    "enforce_eager": bool,
}
BACKENDS = ("vllm-vlm",)


def _check_type(where: str, key: str, value: object, typ: Any) -> None:
    types_ = typ if isinstance(typ, tuple) else (typ,)
    # bool is an int in Python: do not accept True for an int field.
    if isinstance(value, bool) and bool not in types_:
        raise ValueError(f"{where}: {key} must be {typ}, got {value!r}")
    if float in types_ and isinstance(value, int):
        return
    if not isinstance(value, types_):
        raise ValueError(f"{where}: {key} must be {typ}, got {value!r}")


def validate_config(cfg: object, where: str = "config") -> dict[str, Any]:
    """Check one config against the schema; ValueError names what is wrong."""
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: top level must be a mapping")
    unknown = sorted(set(cfg) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")
    for key, typ in REQUIRED.items():
        if key not in cfg:
            raise ValueError(f"{where}: missing required key {key!r}")
        _check_type(where, key, cfg[key], typ)
    for key, typ in OPTIONAL.items():
        if key in cfg:
            _check_type(where, key, cfg[key], typ)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", cfg["model_name"]):
        raise ValueError(
            f"{where}: model_name must be 'org/name', got {cfg['model_name']!r}"
        )
    if cfg["backend"] not in BACKENDS:
        raise ValueError(f"{where}: backend must be one of {BACKENDS}")
    if cfg["limit"] < 1 or cfg["num_fewshot"] < 0:
        raise ValueError(f"{where}: limit must be >= 1 and num_fewshot >= 0")
    if not 0 < cfg["rtol"] < 1:
        raise ValueError(f"{where}: rtol must be in (0, 1), got {cfg['rtol']}")
    if cfg.get("tensor_parallel_size", 1) < 1:
        raise ValueError(f"{where}: tensor_parallel_size must be >= 1")
    for patch in cfg.get("series_patches", []):
        if not (isinstance(patch, str) and re.fullmatch(r"#\d+", patch)):
            raise ValueError(f"{where}: series_patches entries look like '#39869'")
    if not cfg["tasks"]:
        raise ValueError(f"{where}: tasks must not be empty")
    for i, task in enumerate(cfg["tasks"]):
        tw = f"{where}: tasks[{i}]"
        if not isinstance(task, dict) or set(task) != {"name", "metrics"}:
            raise ValueError(f"{tw} must have exactly the keys name, metrics")
        if not isinstance(task["name"], str) or not task["name"]:
            raise ValueError(f"{tw}: name must be a non-empty string")
        if not isinstance(task["metrics"], list) or not task["metrics"]:
            raise ValueError(f"{tw}: metrics must be a non-empty list")
        for j, metric in enumerate(task["metrics"]):
            mw = f"{tw}.metrics[{j}]"
            if not isinstance(metric, dict) or not {"name", "value"} <= set(metric):
                raise ValueError(f"{mw} must have name and value")
            if set(metric) - {"name", "value", "baseline"}:
                raise ValueError(f"{mw}: unknown keys {sorted(set(metric))}")
            if not re.fullmatch(r"[\w]+,[\w-]+", str(metric["name"])):
                raise ValueError(
                    f"{mw}: name must be 'metric,filter', got {metric['name']!r}"
                )
            value = metric["value"]
            if value is None:
                if not str(metric.get("baseline", "")).strip():
                    raise ValueError(
                        f"{mw}: value is null, so a baseline note is required"
                    )
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{mw}: value must be a number or null")
            elif not 0 <= value <= 1:
                raise ValueError(f"{mw}: value must be in [0, 1], got {value}")
    return cfg


def config_path(model: str) -> Path:
    path = Path(model)
    if path.suffix in (".yaml", ".yml"):
        return path
    candidate = CONFIG_DIR / f"{model}.yaml"
    if candidate.is_file():
        return candidate
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise SystemExit(f"no config {candidate}; known MODEL values: {', '.join(known)}")


def load_config(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        print(
            "eval-gpu needs a CUDA GPU host with the model hub and the project's "
            "venv (PyYAML, torch, vLLM, lm-eval: `make build`); here PyYAML is not "
            "installed. Nothing was run.",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_NEEDS_GPU) from None
    return validate_config(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def preflight(cfg: dict[str, Any], tp: int) -> str | None:
    """None if this host can run the config, else why not (nothing loaded)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is False)"
    if torch.cuda.device_count() < tp:
        return (
            f"needs {tp} GPUs (tensor_parallel_size), found {torch.cuda.device_count()}"
        )
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "0") not in ("", "0", "false", "False"):
            return f"{var} is set: the model and the task's dataset come from the hub"
    return None


def run(cfg: dict[str, Any], tp: int, limit: int) -> dict[str, Any]:
    import lm_eval
    import vllm

    print(f"vllm {vllm.__version__} from {vllm.__file__}", flush=True)
    model_args: dict[str, Any] = {
        "pretrained": cfg["model_name"],
        "tensor_parallel_size": tp,
        "enforce_eager": cfg.get("enforce_eager", True),
        "trust_remote_code": cfg.get("trust_remote_code", False),
        "max_model_len": cfg.get("max_model_len", 4096),
        **cfg.get("extra_model_args", {}),
    }
    os.environ.update({k: str(v) for k, v in cfg.get("env_vars", {}).items()})
    results = lm_eval.simple_evaluate(
        model=cfg["backend"],
        model_args=model_args,
        tasks=[t["name"] for t in cfg["tasks"]],
        num_fewshot=cfg["num_fewshot"],
        limit=limit,
        apply_chat_template=cfg.get("apply_chat_template", True),
        fewshot_as_multiturn=False,
        gen_kwargs=cfg.get("gen_kwargs"),
        batch_size=cfg.get("batch_size", "auto"),
    )
    if results is None:
        raise SystemExit("lm-eval returned no results")
    return dict(results["results"])


def check(cfg: dict[str, Any], measured: dict[str, Any]) -> int:
    rtol = cfg["rtol"]
    status = 0
    print(f"\n{'task':<12} {'metric':<26} {'expected':>9} {'measured':>9}  verdict")
    for task in cfg["tasks"]:
        for metric in task["metrics"]:
            got = float(measured[task["name"]][metric["name"]])
            want = metric["value"]
            if want is None:
                verdict = f"no baseline ({metric['baseline']})"
                status = max(status, EXIT_NO_BASELINE)
                shown = "-"
            else:
                # vLLM's rule: measured >= expected * (1 - rtol).
                ok = got >= want * (1 - rtol)
                verdict = f"{'ok' if ok else 'FAIL'} (rtol {rtol})"
                status = status if ok else 1
                shown = f"{want:.3f}"
            name = f"{task['name']:<12} {metric['name']:<26}"
            print(f"{name} {shown:>9} {got:>9.3f}  {verdict}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", nargs="?", help="config name in tests/eval/configs or a YAML path"
    )
    parser.add_argument("--tp", type=int, default=None, help="tensor parallel size")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    if not args.model:
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        parser.error(f"give MODEL, one of: {', '.join(known)}")

    path = config_path(args.model)
    cfg = load_config(path)
    tp = args.tp or cfg.get("tensor_parallel_size", 1)
    limit = args.limit or cfg["limit"]
    print(
        f"config {path}: {cfg['model_name']} on {[t['name'] for t in cfg['tasks']]}, "
        f"limit {limit}, tp {tp}"
    )
    reason = preflight(cfg, tp)
    if reason is not None:
        print(
            f"eval-gpu needs a CUDA GPU host ({tp} GPU(s) for this config) that can "
            f"download {cfg['model_name']} and the task's dataset from the model hub; "
            f"here {reason}. Nothing was run. On such a host: "
            f"`make eval-gpu MODEL={path.stem}`.",
            file=sys.stderr,
        )
        return EXIT_NEEDS_GPU
    t0 = time.monotonic()
    measured = run(cfg, tp, limit)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"{path.stem}.json"
    out.write_text(json.dumps(measured, indent=1, default=str), encoding="utf-8")
    print(f"results in {out} ({time.monotonic() - t0:.0f} s)")
    return check(cfg, measured)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pycheck  # noqa: F401  (refuses an unsupported Python in one line)

    sys.exit(main())
