"""The seed's synthetic table and its retain / forget / test splits."""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Splits:
    """Standardised features (float32) and labels (int64) of each split, on one device."""

    X_retain: torch.Tensor
    y_retain: torch.Tensor
    X_forget: torch.Tensor
    y_forget: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def X_train(self):
        """Retain and forget rows: what the original model is trained on."""
        return torch.cat([self.X_retain, self.X_forget])

    @property
    def y_train(self):
        return torch.cat([self.y_retain, self.y_forget])

    @property
    def sizes(self):
        return {"retain": len(self.y_retain), "forget": len(self.y_forget), "test": len(self.y_test)}


def make_synthetic(*, n_samples, n_features, n_informative, n_redundant, n_classes, flip_y, seed):
    """The seed's ``make_classification`` table: (X, y) as numpy arrays."""
    return make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        n_classes=n_classes,
        flip_y=flip_y,
        random_state=seed,
    )


def split(X, y, *, test_ratio, forget_ratio, seed, device="cpu"):
    """Stratified train/test split, then a stratified forget set out of train.

    The scaler is fit on the retain rows only, so the retrained model never sees
    statistics of the forget set.
    """
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_ratio, random_state=seed, stratify=y
    )
    X_retain, X_forget, y_retain, y_forget = train_test_split(
        X_train, y_train, test_size=forget_ratio, random_state=seed, stratify=y_train
    )
    scaler = StandardScaler().fit(X_retain)
    arrays = {
        "X_retain": scaler.transform(X_retain), "y_retain": y_retain,
        "X_forget": scaler.transform(X_forget), "y_forget": y_forget,
        "X_test": scaler.transform(X_test), "y_test": y_test,
    }
    tensors = {
        name: torch.as_tensor(np.asarray(a), dtype=torch.float32 if name[0] == "X" else torch.int64, device=device)
        for name, a in arrays.items()
    }
    return Splits(**tensors)
