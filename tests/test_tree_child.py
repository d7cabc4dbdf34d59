"""scripts/tree_child.py on synthetic trees: a fake `vllm` package per tree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import tree_child  # noqa: E402

SCRIPTS = str(Path(tree_child.__file__).parent)
CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); import tree_child, vllm; "
    "print('noise'); tree_child.emit({'vllm_file': vllm.__file__, 'n': 7})"
)


def _tree(root: Path, name: str) -> Path:
    pkg = root / name / "vllm"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    return root / name


def test_result_comes_from_the_named_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "a")
    result = tree_child.run_in_tree(tree, ["-c", CHILD, SCRIPTS], timeout=60)
    assert result["n"] == 7
    assert result["vllm_file"] == str(tree / "vllm" / "__init__.py")


def test_a_child_on_another_vllm_is_refused(tmp_path: Path) -> None:
    tree, other = _tree(tmp_path, "a"), _tree(tmp_path, "b")
    code = CHILD.replace(
        "sys.argv[1]);", f"sys.argv[1]); sys.path.insert(0, {str(other)!r});"
    )
    with pytest.raises(RuntimeError, match="imported vLLM from .*/b/vllm"):
        tree_child.run_in_tree(tree, ["-c", code, SCRIPTS], timeout=60)


@pytest.mark.parametrize(
    "code",
    ["import sys; sys.exit(3)", "print('no result line')"],
    ids=["exit", "silent"],
)
def test_a_failed_or_silent_child_raises(tmp_path: Path, code: str) -> None:
    with pytest.raises(RuntimeError, match="exit"):
        tree_child.run_in_tree(_tree(tmp_path, "a"), ["-c", code], timeout=60)


def test_extra_env_reaches_the_child_but_not_pythonpath(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "a")
    code = CHILD.replace(
        "'n': 7",
        "'n': __import__('os').environ['X_T'], 'p': __import__('os').environ['PYTHONPATH']",
    )
    result = tree_child.run_in_tree(
        tree, ["-c", code, SCRIPTS], timeout=60, env={"X_T": "x", "PYTHONPATH": "/nope"}
    )
    assert result["n"] == "x" and result["p"] == str(tree)
