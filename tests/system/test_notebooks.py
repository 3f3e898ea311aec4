"""The lesson notebooks ship executed, and every one still runs from top to bottom.

Committed notebooks carry their outputs (executed at the lesson's own size with ``make
notebooks``, seeded, so the same code gives the same numbers), so a reader sees the figures
and numbers the text speaks of without running anything. The tests check that each committed
notebook is executed in order without an error and stays small, and re-execute each one on a
small market (``RELSIM_NOTEBOOK_SCALE=small``) within a time budget. Every notebook in
``notebooks/`` is covered, whoever added it.

Run as a script to execute notebooks in place: ``python tests/system/test_notebooks.py
notebooks/*.ipynb`` (what ``make notebooks`` does).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

RUN_BUDGET = 240.0
"""Seconds one notebook may take on the small market. Measured 3-20 s each on two busy cores;
the budget catches a lesson that has grown to full size by mistake, not a slow machine."""

IMAGE_LIMIT = 250_000
"""Largest embedded picture (base64 characters): a figure at the inline backend's default
resolution takes 40-120 thousand; a much larger one means a raised dpi or a huge figure."""

NOTEBOOK_LIMIT = 1_500_000
"""Largest notebook file in bytes, outputs included, so the repository stays light."""


def execute(notebook: nbformat.NotebookNode, *, timeout: int = 1800) -> nbformat.NotebookNode:
    """Execute a notebook in a fresh kernel that imports this working tree's ``simulation``.

    Cell timings are not recorded, so that executing the same code twice gives the same file.
    """
    env = {
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(ROOT / "notebooks")}},
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def code_cells(notebook: nbformat.NotebookNode) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def images(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        output["data"]["image/png"]
        for cell in code_cells(notebook)
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]


def test_there_are_six_lessons():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    # Executed from top to bottom in one go: counts 1, 2, 3, ... and no error anywhere.
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: not executed in order (run `make notebooks`)"
    )
    for cell in cells:
        assert all(output.output_type != "error" for output in cell.outputs), path.name
        assert "execution" not in cell.metadata, f"{path.name}: cell timings recorded"
    pictures = images(notebook)
    assert pictures, f"{path.name} shows no picture"
    assert max(len(p) for p in pictures) < IMAGE_LIMIT, f"{path.name}: a picture is too large"
    assert path.stat().st_size < NOTEBOOK_LIMIT, f"{path.name}: {path.stat().st_size:,} bytes"
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "import simulation" in text or "from simulation" in text
    assert "**Question.**" in text and "**Answer.**" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_again(path, monkeypatch):
    monkeypatch.setenv("RELSIM_NOTEBOOK_SCALE", "small")
    notebook = nbformat.read(path, as_version=4)
    for cell in code_cells(notebook):
        cell.outputs, cell.execution_count = [], None
    started = time.monotonic()
    execute(notebook, timeout=int(RUN_BUDGET))
    took = time.monotonic() - started
    assert took < RUN_BUDGET, f"{path.name} took {took:.0f} s on the small market"
    assert images(notebook), f"{path.name} drew no picture"


def main(paths: list[str]) -> None:
    """Execute each notebook in place, at its own (lesson) size."""
    os.environ.pop("RELSIM_NOTEBOOK_SCALE", None)
    for name in paths:
        path = Path(name)
        started = time.monotonic()
        notebook = nbformat.read(path, as_version=4)
        nbformat.write(execute(notebook), path)
        print(f"{path}: executed in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
