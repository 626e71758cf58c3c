"""What every model of an ensemble gets right, and how far it moved: the seed's metrics, per model."""

from dataclasses import dataclass

import numpy as np
import torch

PREDICT_ROWS = 8192  # rows per forward pass in evaluation


@dataclass(frozen=True)
class Predictions:
    """Logits of every model on each split, as float64 numpy arrays of shape (K, n, C), with labels and row ids."""

    retain: np.ndarray
    forget: np.ndarray
    test: np.ndarray
    y_retain: np.ndarray
    y_forget: np.ndarray
    y_test: np.ndarray
    row_ids: dict  # {split: each row's id in the original table}

    def subset(self, models):
        """The predictions of the models a slice selects."""
        return Predictions(self.retain[models], self.forget[models], self.test[models],
                           self.y_retain, self.y_forget, self.y_test, self.row_ids)

    def sample(self, max_rows):
        """The same models on at most ``max_rows`` rows of each split, drawn at random, the same rows every call."""
        picked = {}
        for split in ("retain", "forget", "test"):
            n = len(getattr(self, f"y_{split}"))
            picked[split] = (np.sort(np.random.default_rng(n).choice(n, max_rows, replace=False))
                             if n > max_rows else slice(None))
        return Predictions(*(getattr(self, s)[:, picked[s]] for s in ("retain", "forget", "test")),
                           *(getattr(self, f"y_{s}")[picked[s]] for s in ("retain", "forget", "test")),
                           {s: np.asarray(ids)[picked[s]] for s, ids in self.row_ids.items()})


@torch.no_grad()
def predict(model, splits, row_ids=None):
    """Evaluation-mode logits of every model on the retain, forget and test rows.

    ``row_ids``: {split: each row's id in the original table}; positions within each split if not given.
    """
    model.eval()

    def logits(X):  # (K, n, C), a bounded number of rows at a time: activations are (K, rows, width)
        out = None
        for i in range(0, len(X), PREDICT_ROWS):
            chunk = model(X[i:i + PREDICT_ROWS]).transpose(1, 2)
            if out is None:
                out = torch.empty((chunk.shape[0], len(X), chunk.shape[2]), dtype=torch.float64)
            out[:, i:i + PREDICT_ROWS] = chunk
        # A model whose weights diverged predicts nothing: its non-finite logits count as ties (class 0 wins).
        return np.nan_to_num(out.numpy(), copy=False, nan=0.0, posinf=1e30, neginf=-1e30)

    return Predictions(
        logits(splits.X_retain), logits(splits.X_forget), logits(splits.X_test),
        splits.y_retain.cpu().numpy(), splits.y_forget.cpu().numpy(), splits.y_test.cpu().numpy(),
        row_ids or {name: np.arange(n) for name, n in splits.sizes.items()},
    )


def accuracy(logits, y):
    """Percentage of rows each model classifies correctly: shape (K,)."""
    return 100 * (logits.argmax(axis=-1) == y).mean(axis=-1)


def true_class_log_probs(logits, y):
    """log p_y for every model and row: shape (K, n)."""
    log_probs = torch.log_softmax(torch.from_numpy(logits), dim=-1).numpy()
    return np.take_along_axis(log_probs, y[None, :, None], axis=-1)[..., 0]


@torch.no_grad()
def diverged(model):
    """Whether each model has a non-finite weight or BatchNorm statistic: (K,) numpy bool."""
    finite = [t.flatten(1).isfinite().all(dim=1) for t in [*model.parameters(), *model.buffers()] if t.dim() > 1]
    return ~torch.stack(finite).all(dim=0).cpu().numpy()


@torch.no_grad()
def param_distance(model_a, model_b):
    """L2 distance between matching models' weights and biases (buffers excluded): shape (K,)."""
    squared = sum(
        (a - b).flatten(1).square().sum(dim=1)
        for a, b in zip(model_a.parameters(), model_b.parameters())
    )
    return squared.sqrt().cpu().numpy()


def accuracies(preds):
    """Retain, forget and test accuracy of every model, as a dict of (K,) arrays."""
    return {
        "retain_acc": accuracy(preds.retain, preds.y_retain),
        "forget_acc": accuracy(preds.forget, preds.y_forget),
        "test_acc": accuracy(preds.test, preds.y_test),
    }
