import fcntl
import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import torch

from nbutils import PARAMETERS, REPORTS, runner, runtime
from nbutils.data import reading, tensors
from nbutils.model import MLPEnsemble

CPU = torch.device("cpu")
SMOKE = [PARAMETERS / "default.yaml", PARAMETERS / "smoke.yaml"]
SMOKE_NAME = "pytest-smoke"


def run_smoke():
    """The smoke report, run as on a headless server: MPLBACKEND=Agg, which the kernel inherits."""
    shutil.rmtree(REPORTS / SMOKE_NAME, ignore_errors=True)
    backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        return runner.run(SMOKE, name=SMOKE_NAME, progress=False)
    finally:
        os.environ.pop("MPLBACKEND") if backend is None else os.environ.update(MPLBACKEND=backend)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke report, shared by the notebook's tests and the export's, which start later requests from its
    exported model. Under pytest-xdist the first worker that asks runs it; the others wait for it and reuse it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield run_smoke()
        return
    shared = tmp_path_factory.getbasetemp().parent  # this session's, common to its workers
    with open(shared / "smoke_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "smoke_run.done").exists():
            run_smoke()
            (shared / "smoke_run.done").touch()
    yield REPORTS / SMOKE_NAME


def pytest_sessionfinish(session):
    """The smoke report goes when the whole session ends: in the main process, after every worker's."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(REPORTS / SMOKE_NAME, ignore_errors=True)


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


def _load_reference_engine():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_engine.py"
    spec = importlib.util.spec_from_file_location("reference_engine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE_ENGINE = _load_reference_engine()  # the engine of 713ff6d, frozen (benchmarks/reference_engine.py)


def reference_logits(model, X, keep=None):
    """The seed's forward pass as the frozen engine of 713ff6d computes it (``torch.nn.functional`` on ``model``'s
    own parameters), an oracle independent of this engine for autograd to check it against: logits (K, C, B) of
    X (K, B, F) or (B, F).

    BatchNorm follows the module's mode (training mode normalises with the batch's statistics and moves the
    running ones); ``keep`` (K, B, sum(hidden)) boolean (True: kept) applies inverted dropout, or None."""
    x = (X.expand(model.n_models, -1, -1) if X.dim() == 2 else X).transpose(1, 2)  # (K, F, B)
    masks = None if keep is None else [k.transpose(1, 2) / (1 - model.dropout)
                                       for k in keep.split(model.hidden_sizes, dim=2)]
    return REFERENCE_ENGINE.forward(model, x, masks)


def first_layer(model, X):
    """The first Linear layer's outputs (K, h, n) for the shared rows X (n, F)."""
    return torch.matmul(model.linears[0].weight, X.T) + model.linears[0].bias
