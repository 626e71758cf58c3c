import os
import shutil

import pytest
import torch

from nbutils import PARAMETERS, REPORTS, runner, runtime
from nbutils.data import reading, tensors
from nbutils.model import MLPEnsemble

CPU = torch.device("cpu")
SMOKE = [PARAMETERS / "default.yaml", PARAMETERS / "smoke.yaml"]


@pytest.fixture(scope="session")
def smoke_run():
    """The smoke report, run as on a headless server: MPLBACKEND=Agg, which the kernel inherits. Shared by the
    notebook's tests and the export's, which start later requests from its exported model."""
    name = "pytest-smoke"
    shutil.rmtree(REPORTS / name, ignore_errors=True)
    backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        out = runner.run(SMOKE, name=name, progress=False)
    finally:
        os.environ.pop("MPLBACKEND") if backend is None else os.environ.update(MPLBACKEND=backend)
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def seed_splits():
    """The seed's table and splits."""
    X, y = reading.make_synthetic(n_samples=2000, n_features=20, n_informative=15, n_redundant=3, n_classes=2,
                               flip_y=0.1, seed=42)
    return tensors.split(X, y, test_ratio=0.2, forget_ratio=0.1, seed=42)


@pytest.fixture(scope="session")
def small_splits():
    X, y = reading.make_synthetic(n_samples=400, n_features=8, n_informative=6, n_redundant=1, n_classes=2,
                               flip_y=0.05, seed=0)
    return tensors.split(X, y, test_ratio=0.25, forget_ratio=0.1, seed=0)


def make_ensemble(k, n_features=8, hidden=(16, 8), dropout=0.3, seed=0):
    return MLPEnsemble(k, n_features, list(hidden), 2, dropout, runtime.generator(CPU, seed, "test"))
