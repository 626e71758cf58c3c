"""Helpers for the noise-based unlearning benchmark; the master notebook is ``notebooks/unlearning.ipynb``."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "unlearning.ipynb"
PARAMETERS = ROOT / "parameters"
REPORTS = ROOT / "reports"
KERNEL = "unlearning"


def load_model(path):
    """The model a run exported to folder ``path`` (e.g. ``reports/<run>/model``), with ``predict_proba(frame)``
    and ``predict(frame)`` on raw rows (:class:`nbutils.exported.ExportedModel`); imports PyTorch on first use."""
    from nbutils.exported import load_model as load

    return load(path)
