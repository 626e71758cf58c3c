"""Helpers for the noise-based unlearning benchmark; the master notebook is ``notebooks/unlearning.ipynb``."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "unlearning.ipynb"
PARAMETERS = ROOT / "parameters"
REPORTS = ROOT / "reports"
KERNEL = "unlearning"
