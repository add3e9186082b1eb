"""Every evaluation notebook runs top to bottom on a small sample, so none rots unnoticed.

Each runs in its own kernel with its working directory and data dir in a temporary folder:
nothing is written into the repository. The fast baselines stand in for every method: they
exercise each cell (loading, the harness, the table, both plots) in seconds, where the matcher
needs minutes per protocol; the matcher's own figures are the harness tests' business.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

from models.settings import Settings

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SAMPLE = "8"  # queries per protocol: enough for every cell and plot to have something to show
METHODS = "random,popularity,segment-popularity"
CELL_TIMEOUT = 300
# notebook → the shared dataset folder it reads (None: generated)
NOTEBOOKS = {
    "crunchbase_2013.ipynb": "crunchbase-2013",
    "cyzone_early.ipynb": "china-cyzone-investment-events",
    "demo_ecosystem.ipynb": None,
    "yc_2005_2014.ipynb": "yc-companies",
}


def _read(name: str) -> NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)  # type: ignore[no-untyped-call,no-any-return]


def test_every_notebook_is_executed_here() -> None:
    assert sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


def test_committed_notebooks_carry_no_outputs() -> None:
    for name in NOTEBOOKS:
        notebook = _read(name)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.outputs == [] and cell.execution_count is None for cell in code), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = NOTEBOOKS[name]
    if dataset is not None and not (Settings().shared_data_dir / dataset).is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} needs the {dataset} dataset in CI")
        pytest.skip(f"no {dataset} dataset")
    monkeypatch.setenv("MATCHER_NOTEBOOK_SAMPLE", SAMPLE)
    monkeypatch.setenv("MATCHER_NOTEBOOK_METHODS", METHODS)
    monkeypatch.setenv("MATCHER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(NOTEBOOK_DIR), os.environ.get("PYTHONPATH")]))
    )
    notebook = _read(name)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    data = [output.get("data", {}) for output in outputs]
    assert sum("image/png" in item for item in data) == 2  # the recall curves and the exposure plot
    assert any("|" in item.get("text/markdown", "") for item in data)  # the metric table
