"""One table row per model for every configuration, on one replicate: accuracy, distance, membership inference,
the gap to retrain, the challenge score and a per-example attack.

A replicate is one draw of everything a verdict rests on: the forget set (for a ``random`` request), the
original, retrained and ceiling ensembles, and the methods' random draws. The first ``tuning_replicates``
(0, 1, ...) tune: every method's whole sweep runs on them and its operating point is chosen on their mean.
Only replicate 0 is scored in full; the others, which the choice alone reads, train no ceiling and get
accuracies and the challenge score only. The ``report_replicates`` after them report: only the operating
points run on them, on fresh models, so their scores carry no selection bias. Column ``stage`` says which.

Per-model columns come from every model of the ensemble (column ``model``); MIA efficacy, whose SVC fits are
the costly part, from the first ``n_seeds`` only. Accuracies use every row; on a large table, the attacks and
the challenge score use a random sample of ``EVALUATION_ROWS`` rows per split (the same rows for every
configuration), which examples.parquet holds. Per-configuration columns (gaps, the challenge scores, the
per-example attack, seconds per model) compare ensembles and repeat on each of that configuration's rows,
with their 95 % interval in ``<column>_lo`` and ``<column>_hi``.
"""

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from nbutils import cost, exported, intervals, runtime
from nbutils.catalog import CEILING, ORIGINAL, RETRAIN
from nbutils.challenge import challenge_score, logit_scaled_confidence
from nbutils.columns import WITH_INTERVAL
from nbutils.data import tensors
from nbutils.examples import example_rows
from nbutils.membership import loss_attack, mia_efficacy, per_example_attack
from nbutils.methods import METHODS, importance
from nbutils.metrics import accuracies, diverged, param_distance, predict
from nbutils.train import fit_ensemble

EVALUATION_ROWS = 2000  # rows per split the attacks, the challenge score and examples.parquet use at most
GAP_OF = {"gap_forget": "forget_acc", "gap_retain": "retain_acc", "gap_test": "test_acc", "gap_mia": "mia_efficacy"}
ATTACK = ["attack_acc", "attack_worst"]  # per-example attack: mean accuracy over forget rows, and over the worst tenth
MODEL_COLUMNS = ["retain_acc", "forget_acc", "test_acc", "mia_auc", "mia_tpr@0.01", "mia_tpr@0.001", "mia_efficacy"]


def ensemble_sizes(params):
    """(models per original ensemble, models per retrained ensemble): the challenge score compares the first
    ``challenge_models``; with the challenge score the retrained ensemble is twice as large, its second half the
    independent ceiling ensemble."""
    n_models = max(params["n_seeds"], params["challenge_models"])
    return n_models, 2 * n_models if params["challenge_models"] else n_models


@dataclass
class Reference:
    """What every configuration is measured against: the original and the retrained ensembles."""

    original: object  # the MLPEnsemble the methods unlearn
    original_preds: object
    retrain_preds: object
    n_seeds: int  # models the MIA-efficacy SVC is fit for
    challenge_models: int
    retrain_macs: float  # multiply-adds to retrain one model (:mod:`nbutils.cost`): what cost shares divide by
    full: bool = True  # False: the retrained models get accuracies alone, for a replicate the choice alone reads

    def __post_init__(self):
        self.original_acc = accuracies(self.original_preds)
        self.retrain_models = per_model_metrics(self.retrain_preds, self.n_seeds, self.full)
        retrained = self.retrain_preds.sample(EVALUATION_ROWS)  # what every per-example attack compares with
        self.retrained_confidence = logit_scaled_confidence(retrained.forget[:self.challenge_models], retrained.y_forget)


@dataclass
class Scored:
    """One configuration's results: its rows of results.csv, its per-example rows and its challenge draws."""

    rows: pd.DataFrame
    examples: pd.DataFrame | None  # None where not scored in full
    challenge_draws: np.ndarray  # (intervals.N_DRAWS,) bootstrap draws of the challenge score; empty without it

    @property
    def config(self):
        return self.rows["method"].iloc[0], self.rows["setting"].iloc[0]


@dataclass
class Replicate:
    """One replicate's data, reference models and their scored rows (original, retrain and, with the
    challenge score, retrain_2: the ceiling)."""

    number: int
    stage: str  # "tuning" or "report"
    full: bool  # scored in full (False: accuracies and the challenge score only, no ceiling)
    dataset: object  # tensors.Dataset
    reference: Reference
    references: list  # Scored rows of the reference ensembles
    losses: dict  # {"original"/"retrain": (K, epochs) training losses}
    seconds: dict  # {"original"/"retrain": seconds to train the ensemble}
    retrain: object  # the retrained MLPEnsemble (and ceiling): an export of a "retrain" verdict takes its first


def per_model_metrics(preds, n_svc_models, full=True):
    """Accuracies (on every row) and membership-inference columns (on :data:`EVALUATION_ROWS` rows of each
    split at most) of every model in ``preds``; MIA efficacy for the first ``n_svc_models`` only (NaN after).
    Not ``full``: accuracies alone, the attacks' columns NaN."""
    if not full:
        return pd.DataFrame(accuracies(preds)).reindex(columns=MODEL_COLUMNS)
    attacked = preds.sample(EVALUATION_ROWS)
    efficacy = np.full(len(preds.forget), np.nan)
    efficacy[:n_svc_models] = mia_efficacy(attacked.subset(slice(n_svc_models)))
    return pd.DataFrame({**accuracies(preds), **loss_attack(attacked), "mia_efficacy": efficacy})


def first_model_copies(model, n):
    """An ensemble of ``n`` copies of ``model``'s first model (the competition's protocol)."""
    out = copy.deepcopy(model)
    for tensor in [*out.parameters(), *out.buffers()]:
        if tensor.dim():
            tensor.data = tensor.data[:1].repeat(n, *[1] * (tensor.dim() - 1))
    out.n_models = n
    return out


def train_references(params, dataset, device, number=0, stage="tuning", full=True):
    """Train one replicate's original and retrained ensembles and score them; replicate 0 keeps the run's
    historical random streams, replicate r > 0 draws its own. Not ``full``: no ceiling ensemble, and only what
    choosing operating points reads is scored."""
    n_models, n_retrain = ensemble_sizes(params)
    n_retrain = n_retrain if full else n_models
    splits, streams = dataset.splits, (number,) if number else ()
    architecture = {**params, "n_classes": dataset.n_classes}  # a class forget request can leave the retain rows one short
    one_original = params["challenge_protocol"] == "one_original"
    losses = {}
    if params.get("original_model"):  # a deployed model, exported by an earlier run: loaded, not trained
        original, original_seconds = exported.load_network(params["original_model"], device), 0.0
    else:
        original, losses["original"], original_seconds = fit_ensemble(
            architecture, splits.X_train, splits.y_train, 1 if one_original else n_models,
            runtime.generator(device, params["train_seed"], "original", *streams))
    if one_original:
        original = first_model_copies(original, n_models)
    with cost.counted() as work:
        retrain, retrain_losses, retrain_seconds = fit_ensemble(
            architecture, splits.X_retain, splits.y_retain, n_retrain,
            runtime.generator(device, params["train_seed"], "retrain", *streams))
    retrain_macs = work.macs / n_retrain
    all_retrain = predict(retrain, splits, dataset.ids)
    reference = Reference(original, predict(original, splits, dataset.ids), all_retrain.subset(slice(n_models)),
                          params["n_seeds"], params["challenge_models"], retrain_macs, full)
    where = {"replicate": number, "stage": stage, "full": full}
    scored = [
        evaluate(ORIGINAL, "-", np.nan, reference.original_preds, reference, model=original, macs_per_model=0,
                 **where),
        evaluate(RETRAIN, "-", np.nan, reference.retrain_preds, reference, seconds_per_model=retrain_seconds / n_retrain,
                 macs_per_model=retrain_macs, target=True, **where),
    ]
    if params["challenge_models"] and full:
        scored.append(evaluate(CEILING, "-", np.nan, all_retrain.subset(slice(n_models, None)), reference,
                               seconds_per_model=retrain_seconds / n_retrain, macs_per_model=retrain_macs, **where))
    return Replicate(number, stage, full, dataset, reference, scored, {**losses, "retrain": retrain_losses},
                     {"original": original_seconds, "retrain": retrain_seconds}, retrain)


def evaluate(method, setting, value, preds, reference, *, model=None, seconds_per_model=np.nan, macs_per_model=np.nan,
             target=False, replicate=0, stage="tuning", full=True):
    """Score one configuration from its Predictions on all models; returns a :class:`Scored`.

    ``macs_per_model`` is the work it took to make one model (:mod:`nbutils.cost`); ``cost_share`` divides it by
    retraining's. Not ``full``: accuracies, distance, costs and the challenge score only, and no examples.

    ``target=True`` marks the retrained models themselves: their gaps are 0 by definition, with no interval,
    and they get no challenge score or per-example attack.
    """
    n, challenge_draws = reference.challenge_models, np.empty(0)
    sampled = preds.sample(EVALUATION_ROWS)
    with ThreadPoolExecutor(1) as pool:  # the challenge score runs beside the attacks: both mostly release the GIL
        pending = pool.submit(challenge_score, preds.subset(slice(n)), reference.retrain_preds.subset(slice(n)),
                              EVALUATION_ROWS) if n and not target else None
        rows = per_model_metrics(preds, reference.n_seeds, full)
        challenge = pending.result() if pending else None
    k = len(rows)
    rows.insert(0, "model", np.arange(k))  # index of the model in its ensemble
    rows.insert(0, "replicate", replicate)
    rows.insert(0, "stage", stage)
    rows.insert(0, "value", value)
    rows.insert(0, "setting", setting)
    rows.insert(0, "method", method)
    rows["param_dist"] = param_distance(model, reference.original) if model is not None else np.nan
    # The seed's quality score: forget-accuracy drop minus retain-accuracy drop, against the same original model.
    rows["seed_quality"] = (reference.original_acc["forget_acc"] - rows["forget_acc"]) - (
        reference.original_acc["retain_acc"] - rows["retain_acc"])
    target_means = reference.retrain_models.mean()
    for gap, col in GAP_OF.items():
        rows[gap] = abs(rows[col].mean() - target_means[col])
    rows["avg_gap"] = rows[list(GAP_OF)].mean(axis=1)
    bounds = {}
    if not target and full:
        bounds = {gap: intervals.folded(*intervals.welch_interval(rows[col], reference.retrain_models[col]))
                  for gap, col in GAP_OF.items()}
        # Avg. Gap: the mean of its four gaps' bounds, a conservative interval for their mean
        bounds["avg_gap"] = tuple(np.mean([b[end] for b in bounds.values()]) for end in (0, 1))

    rows["forget_score"] = rows["challenge_score"] = np.nan
    rows[ATTACK] = np.nan
    row_attack = None
    if challenge is not None:
        rows["forget_score"], rows["challenge_score"] = challenge.forget_score, challenge.score
        forget_draws, challenge_draws = intervals.challenge_draws(challenge)
        bounds["forget_score"] = intervals.interval(forget_draws)
        bounds["challenge_score"] = intervals.interval(challenge_draws)
    if challenge is not None and full:
        row_attack = per_example_attack(logit_scaled_confidence(sampled.forget[:n], sampled.y_forget),
                                        reference.retrained_confidence)
        figures, draws = intervals.attack_draws(row_attack)
        for col in ATTACK:
            rows[col] = figures[col]
            bounds[col] = intervals.interval(draws[col])
    rows["seconds_per_model"] = seconds_per_model
    rows["cost_share"] = macs_per_model / reference.retrain_macs
    for col in WITH_INTERVAL:
        rows[f"{col}_lo"], rows[f"{col}_hi"] = bounds.get(col, (np.nan, np.nan))
    examples = None
    if full:
        examples = example_rows(method, setting, sampled, challenge, row_attack)
        examples.insert(2, "replicate", replicate)
    return Scored(rows, examples, challenge_draws)


def _unlearn(name, value, generator, reference, splits, params):
    """(the unlearned ensemble, seconds per model, multiply-adds per model), warning about models whose weights
    diverged.

    Both costs include any importance the method reused from an earlier setting
    (:mod:`nbutils.methods.importance`), so each setting's cost is what it would be alone."""
    method = METHODS[name]
    start = time.perf_counter()
    with importance.charged() as reused, cost.counted() as work:  # reused: an earlier setting's importances' seconds
        model = method.apply(reference.original, value, generator, splits, params)
    if splits.X_forget.is_cuda:
        torch.cuda.synchronize()  # GPU work is asynchronous: time it, not its launch
    seconds = (time.perf_counter() - start + sum(reused)) / model.n_models  # each setting as if it ran alone
    if (bad := diverged(model).sum()):
        print(f"{method.label} ({value}): {bad} of {model.n_models} models diverged (non-finite weights); "
              "they predict nothing, and count as wrong wherever class 0 is not the label")
    return model, seconds, work.macs / model.n_models


def method_generator(device, params, name, label, replicate=0):
    """The random stream of one method at one setting on one replicate. Noise then repair and its control (its
    repair alone) share it: at equal settings they draw the same batches and dropout masks, and differ only by
    the noise, which noise then repair draws from a stream of its own (common random numbers)."""
    stream = "repair" if name in ("repair", params["repair_with"]) else name
    return runtime.generator(device, params["noise_seed"], "noise", stream, label, *((replicate,) if replicate else ()))


def sweep(name, params, replicate, device):
    """Apply one method at each of its settings to every original model of ``replicate`` and score each result.

    Returns one :class:`Scored` per setting, each with the method's seconds per model.
    """
    return [_unlearn_and_score(name, label, params, replicate, device) for label in METHODS[name].settings(params)]


def tuning_replicate(params, dataset, number, methods, device):
    """Tuning replicate ``number`` > 0, for the choice of operating points alone: its own forget set (for a
    ``random`` request), original and retrained ensembles (no ceiling), and every setting of each of ``methods``,
    scored without the attacks. Returns the :class:`Scored` of its references, then of each setting."""
    replicate = train_references(params, tensors.for_replicate(dataset, params, device, number), device, number,
                                 full=False)
    return [*replicate.references, *(s for name in methods for s in sweep(name, params, replicate, device))]


def report_replicate(params, dataset, number, configurations, device):
    """Report replicate ``number``: fresh data (for a ``random`` request), references and ``configurations``
    [(method, setting label)], each scored in full. Returns their :class:`Scored`, references first."""
    replicate = train_references(params, tensors.for_replicate(dataset, params, device, number), device, number,
                                 stage="report")
    return fresh(params, replicate, configurations, device)


def fresh(params, replicate, configurations, device):
    """Score ``configurations`` [(method, setting label)] on a report replicate, each with its own random stream:
    the replicate's references first, then each configuration."""
    return [*replicate.references,
            *(_unlearn_and_score(name, label, params, replicate, device) for name, label in configurations)]


def _unlearn_and_score(name, label, params, replicate, device):
    """One method at one setting on one replicate, from its own random stream: the :class:`Scored` result."""
    method, dataset = METHODS[name], replicate.dataset
    value = method.settings(params)[label]
    generator = method_generator(device, params, name, label, replicate.number)
    model, seconds, macs = _unlearn(name, value, generator, replicate.reference, dataset.splits, params)
    return evaluate(name, label, method.numeric(value), predict(model, dataset.splits, dataset.ids), replicate.reference,
                    model=model, seconds_per_model=seconds, macs_per_model=macs, replicate=replicate.number,
                    stage=replicate.stage, full=replicate.full)


def results_table(scored):
    """results.csv: every configuration's rows."""
    return pd.concat([s.rows for s in scored], ignore_index=True)
