"""One table row per model for every configuration: accuracy, distance, membership inference, gap to retrain.

Per-model columns come from each of the first ``n_seeds`` models (column ``model``). Per-configuration
columns (gaps, the challenge scores, seconds per model) compare ensembles and repeat on
each of that configuration's rows.
"""

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from nbutils.challenge import challenge_score
from nbutils.membership import loss_attack, mia_efficacy
from nbutils.metrics import accuracies, param_distance, predict
from nbutils.unlearning import METHODS

GAP_OF = {"gap_forget": "forget_acc", "gap_retain": "retain_acc", "gap_test": "test_acc", "gap_mia": "mia_efficacy"}


@dataclass
class Reference:
    """What every configuration is measured against: the original and the retrained ensembles."""

    original: object  # the trained MLPEnsemble
    original_preds: object
    retrain_preds: object
    n_seeds: int
    challenge_models: int

    def __post_init__(self):
        self.original_acc = accuracies(self.original_preds.subset(slice(self.n_seeds)))
        self.retrain_means = per_model_metrics(self.retrain_preds.subset(slice(self.n_seeds))).mean()


def per_model_metrics(preds):
    """Accuracies and membership-inference columns of every model in ``preds``: a DataFrame."""
    return pd.DataFrame({**accuracies(preds), **loss_attack(preds), "mia_efficacy": mia_efficacy(preds)})


def evaluate(method, setting, value, preds, reference, *, model=None, seconds_per_model=np.nan, challenge=True):
    """Rows (one per model of the first ``n_seeds``) for one configuration, given its Predictions on all models.

    ``challenge=False`` leaves the challenge scores empty (for the retrained models themselves).
    """
    k = reference.n_seeds
    rows = per_model_metrics(preds.subset(slice(k)))
    rows.insert(0, "model", np.arange(k))  # index of the model in its ensemble
    rows.insert(0, "value", value)
    rows.insert(0, "setting", setting)
    rows.insert(0, "method", method)
    rows["param_dist"] = param_distance(model, reference.original)[:k] if model is not None else np.nan
    # The seed's quality score: forget-accuracy drop minus retain-accuracy drop, against the same original model.
    rows["seed_quality"] = (reference.original_acc["forget_acc"] - rows["forget_acc"]) - (
        reference.original_acc["retain_acc"] - rows["retain_acc"])
    for gap, col in GAP_OF.items():
        rows[gap] = abs(rows[col].mean() - reference.retrain_means[col])
    rows["avg_gap"] = rows[list(GAP_OF)].mean(axis=1)
    n = reference.challenge_models
    if n and challenge:
        forget, final = challenge_score(preds.subset(slice(n)), reference.retrain_preds.subset(slice(n)))
    else:
        forget, final = np.nan, np.nan
    rows["forget_score"], rows["challenge_score"] = forget, final
    rows["seconds_per_model"] = seconds_per_model
    return rows


def sweep(name, params, reference, splits, generator):
    """Apply one method at each of its settings to every original model and evaluate each result.

    Returns the rows of all settings, each with the method's seconds per model.
    """
    method = METHODS[name]
    frames = []
    for label, value in method.settings(params).items():
        start = time.perf_counter()
        model = method.apply(reference.original, value, generator, X_forget=splits.X_forget,
                             y_forget=splits.y_forget, importance_weight=params["adaptive_importance_weight"])
        if splits.X_forget.is_cuda:
            torch.cuda.synchronize()  # GPU work is asynchronous: time it, not its launch
        seconds = (time.perf_counter() - start) / model.n_models
        numeric = np.nan if isinstance(value, list) else value
        frames.append(evaluate(name, label, numeric, predict(model, splits), reference, model=model,
                               seconds_per_model=seconds))
    return pd.concat(frames, ignore_index=True)
