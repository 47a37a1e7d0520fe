"""The teaching notebooks: each runs top to bottom in fast mode (``MINIRL_FAST=1``), and none copies the library.

A cell that raises (the notebooks ``assert`` their hand computations against minirl) fails the test. Notebooks 01
and 03 load the embedded SmolLM2-135M, so they are marked ``slow``.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest

from minirl.testing import HANG_TIMEOUT_S

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# The embedded model: ~35 s to convert on first use, then real sampling (and, in 03, training).
SLOW = {"01_rewards.ipynb", "03_r1_zero.ipynb"}
KERNEL = "minirl-notebooks"
FAST_FLAG = 'FAST = os.environ.get("MINIRL_FAST", "0") == "1"'


def _code(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def _library_names() -> set[str]:
    """Top-level function and class names defined in minirl/ and rewards/ (the notebooks must import these)."""
    names = set()
    for package in ("minirl", "rewards"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names |= {
                node.name
                for node in tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            }
    return names


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    """A Jupyter data dir with a kernel spec that runs *this* interpreter, whatever `python` is on PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "minirl tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root


def test_the_teaching_notebooks_are_there():
    assert {"01_rewards.ipynb", "02_grpo_by_hand.ipynb", "03_r1_zero.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    """Committed without outputs; opens with what the reader learns, ends with exercises, one fast-mode switch."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} cell {i} has outputs: strip them"
            )
    assert nb.cells[0].cell_type == "markdown" and "You will learn" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "## Exercises" in nb.cells[-1].source
    code = _code(nb)
    assert FAST_FLAG in code[0], f"{path.name}: the first code cell must read MINIRL_FAST as `{FAST_FLAG}`"
    assert sum(FAST_FLAG in src for src in code) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_does_not_redefine_the_library(path):
    nb = nbformat.read(path, as_version=4)
    defined = set()
    for src in _code(nb):
        tree = ast.parse(src)
        defined |= {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
    copied = defined & _library_names()
    assert not copied, f"{path.name} defines {sorted(copied)}, which the library has: import them instead"


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in NOTEBOOKS],
)
def test_notebook_runs_in_fast_mode(path, kernel_path, monkeypatch):
    monkeypatch.setenv("MINIRL_FAST", "1")  # the kernel inherits this process's environment
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path), prepend=os.pathsep)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=HANG_TIMEOUT_S,  # per cell; a hang guard
        startup_timeout=HANG_TIMEOUT_S,  # the kernel imports torch: slow on a loaded machine (default 60 s)
        iopub_timeout=60,  # wait for a cell's last outputs (default 4 s: they could be lost under load)
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # the kernel's working directory
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("fast mode" in out.get("text", "") for out in outputs), (
        "the notebook did not see MINIRL_FAST=1"
    )
