#!/usr/bin/env python3
"""lm-eval (vllm-vlm) on the local colour_square task: pristine vs patched.

    python scripts/eval_local.py [--model qwen3_vl] [--limit 16] [--tolerance 0]

Runs lm-eval twice on the same tiny checkpoint, CPU, greedy, offline: once
with the pristine v0.19.1 tree (build/pristine, a git worktree of the tag
with the release's compiled kernels copied in) and once with the patched
tree (build/vllm). Each run is a subprocess with PYTHONPATH set to its tree;
it prints `vllm.__file__` to prove which tree it imported. With random
weights the score means nothing; the check is that both trees score the
same: the command fails if any metric differs by more than --tolerance
(absolute, default 0: the runs are deterministic). It also reports how many
generations are identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pin import Layout, Pin  # noqa: E402

_LAYOUT = Layout.default()  # where the series and its build live
BUILD = _LAYOUT.build
PATCHED = BUILD / "vllm"
PRISTINE = BUILD / "pristine"
TAG = Pin.load(_LAYOUT.version_file).tag
TASKS_DIR = ROOT / "tests" / "eval" / "tasks"
TASK = "colour_square"
OUT_DIR = BUILD / "eval"
RUN_TIMEOUT_S = 1800.0
# Both runs are deterministic (same weights and kernels, greedy, CPU, one
# OpenMP thread, same batches): two runs of the same code give identical
# generations, so by default any score difference fails. char_f1 is scored on
# the whole response, so it moves when any generation changes.
DEFAULT_TOLERANCE = 0.0
METRICS = ("exact_match", "char_f1")

sys.path.insert(0, str(Path(__file__).resolve().parent))


def git(tree: Path, *args: str) -> str:
    import gitrun  # the tooling's one hermetic git runner

    return gitrun.git(tree, *args).strip()


def ensure_pristine_tree() -> None:
    """build/pristine: a detached worktree of the tag plus the kernels."""
    tag_commit = git(PATCHED, "rev-parse", f"{TAG}^{{commit}}")
    if not (PRISTINE / ".git").exists():
        print(f"creating {PRISTINE} (git worktree of {TAG})", flush=True)
        git(PATCHED, "worktree", "add", "--detach", str(PRISTINE), TAG)
    head = git(PRISTINE, "rev-parse", "HEAD")
    if head != tag_commit:
        raise SystemExit(f"{PRISTINE} is at {head}, not at {TAG} ({tag_commit})")
    dirty = git(PRISTINE, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        raise SystemExit(f"{PRISTINE} has local changes:\n{dirty}")
    kernels = sorted((PATCHED / "vllm").glob("_C*.so"))
    if not kernels:
        raise SystemExit(f"no compiled kernels (_C*.so) in {PATCHED / 'vllm'}")
    for src in [*kernels, PATCHED / "vllm" / "_version.py"]:
        dst = PRISTINE / "vllm" / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)


def describe(tree: Path) -> str:
    head = git(tree, "rev-parse", "--short", "HEAD")
    ahead = git(tree, "rev-list", "--count", f"{TAG}..HEAD")
    dirty = git(tree, "status", "--porcelain", "--untracked-files=no")
    return f"{head}, {TAG}+{ahead}{' +uncommitted changes' if dirty else ''}"


# --- one run (child process, PYTHONPATH=<tree>) -----------------------------


def _stub_ray_if_missing() -> None:
    """lm-eval's vllm_vlms imports ray at module level but only uses it for
    data_parallel_size > 1; without ray installed give it a stub that says so.
    """
    try:
        import ray  # noqa: F401
    except ImportError:
        stub = types.ModuleType("ray")

        def _unavailable(*args: object, **kwargs: object) -> Any:
            raise RuntimeError("ray is not installed: data_parallel_size must be 1")

        stub.remote = _unavailable  # type: ignore[attr-defined]
        stub.get = _unavailable  # type: ignore[attr-defined]
        stub.shutdown = _unavailable  # type: ignore[attr-defined]
        sys.modules["ray"] = stub


def run_one(tree: Path, model: Path, limit: int, out: Path) -> None:
    import vllm

    vllm_file = Path(vllm.__file__).resolve()
    print(f"vllm.__file__ = {vllm_file}", flush=True)
    if not vllm_file.is_relative_to(tree.resolve()):
        raise SystemExit(f"imported vllm from {vllm_file}, expected under {tree}")

    _stub_ray_if_missing()
    import lm_eval
    from serve import uses_remote_code
    from lm_eval.tasks import TaskManager

    t0 = time.monotonic()
    results = lm_eval.simple_evaluate(
        model="vllm-vlm",
        model_args={
            "pretrained": str(model),
            "max_model_len": 4096,
            "max_num_seqs": 4,
            "enforce_eager": True,
            "seed": 0,
            "limit_mm_per_prompt": {"image": 1, "video": 0},
            "trust_remote_code": uses_remote_code(model),
        },
        tasks=[TASK],
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False),
        limit=limit,
        apply_chat_template=True,
        log_samples=True,
        batch_size="auto",
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    if results is None:
        raise SystemExit("lm-eval returned no results")
    task_results = results["results"][TASK]
    samples = sorted(results["samples"][TASK], key=lambda s: s["doc_id"])
    payload = {
        "vllm_file": str(vllm_file),
        "lm_eval_version": lm_eval.__version__,
        "seconds": round(time.monotonic() - t0, 1),
        "metrics": {m: float(task_results[f"{m},none"]) for m in METRICS},
        "generations": [
            {"doc_id": s["doc_id"], "target": s["target"], "resp": s["resps"][0][0]}
            for s in samples
        ],
    }
    out.write_text(json.dumps(payload, indent=1), encoding="utf-8")


# --- driver -------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    tree: Path
    info: str
    payload: dict[str, Any]
    seconds: float


def child_env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
    )
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    return env


def run_tree(label: str, tree: Path, model: Path, limit: int) -> RunResult:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    slug = label.split()[0]
    out, log = OUT_DIR / f"{slug}.json", OUT_DIR / f"{slug}.log"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_run"]
    cmd += ["--tree", str(tree), "--model", str(model)]
    cmd += ["--limit", str(limit), "--out", str(out)]
    print(f"\n== {label}: {tree} ({describe(tree)})", flush=True)
    print(f"   log: {log}", flush=True)
    t0 = time.monotonic()
    with log.open("wb") as log_f:
        proc = subprocess.Popen(
            cmd,
            env=child_env(tree),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=RUN_TIMEOUT_S)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    seconds = time.monotonic() - t0
    text = log.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("vllm.__file__ = "):
            print(f"   {line}", flush=True)
    if code != 0 or not out.is_file():
        tail = "\n".join(text.splitlines()[-40:])
        raise SystemExit(f"{label} run failed (exit {code}); log {log}:\n{tail}")
    payload = json.loads(out.read_text(encoding="utf-8"))
    print(f"   done in {seconds:.0f} s", flush=True)
    return RunResult(label, tree, describe(tree), payload, seconds)


def generations_digest(payload: dict[str, Any]) -> str:
    data = json.dumps(payload["generations"], sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:12]


def compare(a: RunResult, b: RunResult, tolerance: float) -> bool:
    rows = [("metric", a.label, b.label, "|diff|", "tolerance", "ok")]
    ok = True
    for m in METRICS:
        va, vb = a.payload["metrics"][m], b.payload["metrics"][m]
        diff = abs(va - vb)
        passed = diff <= tolerance
        ok &= passed
        rows.append(
            (m, f"{va:.4f}", f"{vb:.4f}", f"{diff:.4f}", f"{tolerance}", str(passed))
        )
    ga, gb = a.payload["generations"], b.payload["generations"]
    same = sum(x == y for x, y in zip(ga, gb, strict=True))
    rows.append(("identical generations", "", "", f"{same}/{len(ga)}", "", ""))
    rows.append(
        (
            "generations sha256",
            generations_digest(a.payload),
            generations_digest(b.payload),
            "",
            "",
            "",
        )
    )
    rows.append(("seconds", f"{a.seconds:.0f}", f"{b.seconds:.0f}", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in (a, b):
        print(f"{r.label}: {r.info}; vllm imported from {r.payload['vllm_file']}")
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_run"]:
        p = argparse.ArgumentParser(prog="eval_local.py _run")
        p.add_argument("--tree", type=Path, required=True)
        p.add_argument("--model", type=Path, required=True)
        p.add_argument("--limit", type=int, required=True)
        p.add_argument("--out", type=Path, required=True)
        a = p.parse_args(argv[1:])
        run_one(a.tree, a.model, a.limit, a.out)
        return 0

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("MODEL", "qwen3_vl"))
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be >= 1")

    from serve import resolve_model

    model = resolve_model(args.model)
    ensure_pristine_tree()
    if git(PATCHED, "rev-parse", "HEAD") == git(
        PATCHED, "rev-parse", f"{TAG}^{{commit}}"
    ):
        print(f"warning: {PATCHED} has no commits on top of {TAG}", flush=True)
    print(f"model: {model}; task: {TASK} (limit {args.limit}); CPU, greedy")
    pristine = run_tree(f"pristine {TAG}", PRISTINE, model, args.limit)
    patched = run_tree("patched", PATCHED, model, args.limit)
    ok = compare(pristine, patched, args.tolerance)
    print(
        f"\n{'PASS' if ok else 'FAIL'}: scores "
        f"{'agree' if ok else 'differ'} within {args.tolerance} (absolute)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
