"""One table row per model for every configuration: accuracy, distance, membership inference, gap to retrain.

Per-model columns come from each of the first ``n_seeds`` models (column ``model``). Accuracies use every
row; on a large table, the attacks and the challenge score use a random sample of ``EVALUATION_ROWS`` rows
per split (the same rows for every configuration), which examples.parquet holds. Per-configuration
columns (gaps, the challenge scores, seconds per model) compare ensembles and repeat on each of that
configuration's rows, with their 95 % bootstrap interval in ``<column>_lo`` and ``<column>_hi``.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from nbutils import intervals
from nbutils.challenge import challenge_score
from nbutils.examples import example_rows
from nbutils.membership import loss_attack, mia_efficacy
from nbutils.metrics import accuracies, diverged, param_distance, predict
from nbutils.methods import METHODS

EVALUATION_ROWS = 2000  # rows per split the attacks, the challenge score and examples.parquet use at most
GAP_OF = {"gap_forget": "forget_acc", "gap_retain": "retain_acc", "gap_test": "test_acc", "gap_mia": "mia_efficacy"}
WITH_INTERVAL = [*GAP_OF, "avg_gap", "forget_score", "challenge_score"]
INTERVAL_BOUNDS = [f"{col}_{end}" for col in WITH_INTERVAL for end in ("lo", "hi")]  # results.csv's last columns


def ensemble_sizes(params):
    """(models per original ensemble, models per retrained ensemble): the tables use the first ``n_seeds``,
    the challenge score the first ``challenge_models``; with the challenge score the retrained ensemble is
    twice as large, its second half the independent ceiling ensemble."""
    n_models = max(params["n_seeds"], params["challenge_models"])
    return n_models, 2 * n_models if params["challenge_models"] else n_models


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
        self.retrain_models = per_model_metrics(self.retrain_preds.subset(slice(self.n_seeds)))


@dataclass
class Scored:
    """One configuration's results: its rows of results.csv, its per-example rows and its challenge draws."""

    rows: pd.DataFrame
    examples: pd.DataFrame
    challenge_draws: np.ndarray  # (intervals.N_DRAWS,) bootstrap draws of the challenge score; empty without it


def per_model_metrics(preds):
    """Accuracies (on every row) and membership-inference columns (on :data:`EVALUATION_ROWS` rows of each
    split at most) of every model in ``preds``: a DataFrame."""
    attacked = preds.sample(EVALUATION_ROWS)
    return pd.DataFrame({**accuracies(preds), **loss_attack(attacked), "mia_efficacy": mia_efficacy(attacked)})


def evaluate(method, setting, value, preds, reference, *, model=None, seconds_per_model=np.nan, target=False):
    """Score one configuration from its Predictions on all models; returns a :class:`Scored`.

    ``target=True`` marks the retrained models themselves: their gaps are 0 by definition, with no interval,
    and they get no challenge score.
    """
    k = reference.n_seeds
    n, challenge_draws = reference.challenge_models, np.empty(0)
    with ThreadPoolExecutor(1) as pool:  # the challenge score runs beside the attacks: both mostly release the GIL
        pending = pool.submit(challenge_score, preds.subset(slice(n)), reference.retrain_preds.subset(slice(n)),
                              EVALUATION_ROWS) if n and not target else None
        rows = per_model_metrics(preds.subset(slice(k)))
        challenge = pending.result() if pending else None
    rows.insert(0, "model", np.arange(k))  # index of the model in its ensemble
    rows.insert(0, "value", value)
    rows.insert(0, "setting", setting)
    rows.insert(0, "method", method)
    rows["param_dist"] = param_distance(model, reference.original)[:k] if model is not None else np.nan
    # The seed's quality score: forget-accuracy drop minus retain-accuracy drop, against the same original model.
    rows["seed_quality"] = (reference.original_acc["forget_acc"] - rows["forget_acc"]) - (
        reference.original_acc["retain_acc"] - rows["retain_acc"])
    target_means = reference.retrain_models.mean()
    for gap, col in GAP_OF.items():
        rows[gap] = abs(rows[col].mean() - target_means[col])
    rows["avg_gap"] = rows[list(GAP_OF)].mean(axis=1)
    bounds = {}
    if not target:
        draws = intervals.gap_draws(rows[list(GAP_OF.values())], reference.retrain_models[list(GAP_OF.values())])
        bounds = {gap: intervals.folded_interval(draws[col]) for gap, col in GAP_OF.items()}
        # Avg. Gap: the mean of its four gaps' bounds, a conservative interval for their mean
        bounds["avg_gap"] = tuple(np.mean([b[end] for b in bounds.values()]) for end in (0, 1))

    rows["forget_score"] = rows["challenge_score"] = np.nan
    if challenge is not None:
        rows["forget_score"], rows["challenge_score"] = challenge.forget_score, challenge.score
        forget_draws, challenge_draws = intervals.challenge_draws(challenge)
        bounds["forget_score"] = intervals.interval(forget_draws)
        bounds["challenge_score"] = intervals.interval(challenge_draws)
    rows["seconds_per_model"] = seconds_per_model
    for col in WITH_INTERVAL:
        rows[f"{col}_lo"], rows[f"{col}_hi"] = bounds.get(col, (np.nan, np.nan))
    return Scored(rows, example_rows(method, setting, preds.sample(EVALUATION_ROWS), challenge), challenge_draws)


def sweep(name, params, reference, splits, generator, row_ids=None):
    """Apply one method at each of its settings to every original model and score each result.

    Returns one :class:`Scored` per setting, each with the method's seconds per model.
    """
    method = METHODS[name]
    scored = []
    for label, value in method.settings(params).items():
        start = time.perf_counter()
        model = method.apply(reference.original, value, generator, splits, params)
        if splits.X_forget.is_cuda:
            torch.cuda.synchronize()  # GPU work is asynchronous: time it, not its launch
        seconds = (time.perf_counter() - start) / model.n_models
        if (bad := diverged(model).sum()):
            print(f"{method.label} ({label}): {bad} of {model.n_models} models diverged (non-finite weights); "
                  "they predict nothing, and count as wrong wherever class 0 is not the label")
        scored.append(evaluate(name, label, method.numeric(value), predict(model, splits, row_ids), reference,
                               model=model, seconds_per_model=seconds))
    return scored


def results_table(scored):
    """results.csv: every configuration's rows."""
    return pd.concat([s.rows for s in scored], ignore_index=True)
