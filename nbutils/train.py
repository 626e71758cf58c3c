"""Training K models at once: the seed's Adam and cross-entropy, vectorised over models."""

import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from nbutils.model import MLPEnsemble, draw_keep_masks


SEGMENT_ROWS = 16_384  # rows gathered per model at once: bounds memory on large tables


def _adam(params, lr):
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this device or build
        return torch.optim.Adam(params, lr=lr, foreach=True)


def train_ensemble(model, X, y, *, epochs, batch_size, lr, generator, progress=False):
    """Train every model of ``model`` on (X, y), each with its own shuffling and dropout.

    Each model sees the data in its own random order, in mini-batches of
    ``batch_size`` rows sliced from tensors already on the device (no DataLoader),
    gathered (with their dropout masks) ``SEGMENT_ROWS`` rows at a time.
    A final batch of a single row is skipped, since BatchNorm cannot train on it.
    The loss is the sum over models of each model's mean cross-entropy, so each
    model's gradient, and Adam's per-element update, is the one it would get alone.

    Returns the mean training loss per model and epoch, an array of shape (K, epochs).
    """
    n, k = len(X), model.n_models
    optimizer = _adam(model.parameters(), lr)
    losses = torch.zeros(k, epochs, device=X.device)
    n_batches = len([s for s in range(0, n, batch_size) if n - s > 1])
    segment = batch_size * max(1, SEGMENT_ROWS // batch_size)  # whole batches
    model.train()
    for epoch in tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=False, mininterval=2):
        # One shuffle per epoch; rows and dropout masks are gathered a segment of batches at a time.
        order = torch.rand(k, n, generator=generator, device=generator.device).argsort(dim=1)  # (K, n)
        for first in range(0, n, segment):
            rows = order[:, first:first + segment]
            X_part = X[rows].transpose(1, 2).contiguous()  # (K, F, rows): column i of model k is X[rows[k, i]]
            y_part = y[rows]  # (K, rows)
            masks = draw_keep_masks(rows.shape[1], k, model.hidden_sizes, model.dropout, generator)
            for start in range(0, rows.shape[1], batch_size):
                if n - (first + start) < 2:
                    continue  # a last batch of one row: BatchNorm cannot train on it
                batch = slice(start, start + batch_size)
                logits = model(X_part[:, :, batch], [m[:, :, batch] for m in masks])  # (K, C, B)
                per_model = F.cross_entropy(logits, y_part[:, batch], reduction="none").mean(dim=1)
                optimizer.zero_grad(set_to_none=True)
                per_model.sum().backward()
                optimizer.step()
                losses[:, epoch] += per_model.detach()
    model.eval()
    return (losses / n_batches).cpu().numpy()


def fit_ensemble(params, X, y, n_models, generator, progress=True):
    """Build ``n_models`` fresh models as the parameters describe and train them on (X, y).

    Returns (model, losses of shape (K, epochs), seconds).
    """
    start = time.perf_counter()
    model = MLPEnsemble(n_models, X.shape[1], params["hidden_sizes"], params["n_classes"], params["dropout"], generator)
    losses = train_ensemble(model, X, y, epochs=params["epochs"], batch_size=params["batch_size"],
                            lr=params["learning_rate"], generator=generator, progress=progress)
    return model, losses, time.perf_counter() - start
