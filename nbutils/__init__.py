"""Helpers for the noise-based unlearning benchmark; the master notebook is ``notebooks/unlearning.ipynb``.

In the source tree every path below is the tree's. Installed from the wheel without the tree, the notebook and the
parameter files are the copies the wheel holds inside the package, and the project root (relative paths in
parameters are read from it, ``reports/`` is written under it) is the working directory.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
IN_SOURCE_TREE = (PACKAGE.parent / "notebooks" / "unlearning.ipynb").is_file()
ROOT = PACKAGE.parent if IN_SOURCE_TREE else Path.cwd()
NOTEBOOK = (ROOT if IN_SOURCE_TREE else PACKAGE) / "notebooks" / "unlearning.ipynb"
PARAMETERS = (ROOT if IN_SOURCE_TREE else PACKAGE) / "parameters"
REPORTS = ROOT / "reports"
KERNEL = "unlearning"


def load_model(path):
    """The model a run exported to folder ``path`` (e.g. ``reports/<run>/model``), with ``predict_proba(frame)``
    and ``predict(frame)`` on raw rows (:class:`nbutils.exported.ExportedModel`); imports PyTorch on first use."""
    from nbutils.exported import load_model as load

    return load(path)
