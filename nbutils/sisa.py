"""Exact unlearning by shards: SISA (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021), without slices.

The training rows are split into S disjoint shards; each of the N models is the aggregate of S sub-models of the
seed's architecture, sub-model s trained on shard s alone. The aggregate's prediction is the mean of its
sub-models' class probabilities (its "logits" are the log of that mean, so a softmax gives the mean back). A
deletion retrains from scratch, without the deleted rows, only the sub-models whose shard held one: the result is
the sharded model trained without those rows, bit for bit, since every other sub-model never saw them.

Shards are dealt by row id, not by position: the training rows are ranked by a keyed hash of their id (the key
drawn from the named stream ``"shards"`` of ``train_seed``) and dealt to shards in turn, so shards differ in size
by one row at most, and deleting rows never moves another row to another shard or within its shard's order.

Each shard's N sub-models train as one ensemble (``train_ensemble`` with K = N), from a random stream of the
shard's own: the engine trains K models on one table, shards hold different rows, and a deletion must retrain one
shard alone and get exactly the numbers it would have got beside the others.
"""

import time
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from nbutils import cost, evaluation, intervals, runtime, tables
from nbutils.catalog import SHARDED
from nbutils.metrics import predict
from nbutils.train import fit_ensemble

STAGE = "shards"  # results.csv's stage of the sharded rows: neither tuning nor report, so no choice reads them
NAMES = SHARDED


class ShardedEnsemble(nn.Module):
    """N models, each the aggregate of S sub-models: ``parts[s]`` holds the N sub-models trained on shard s.

    Forward gives the log of the mean of the sub-models' softmax probabilities, (N, C, B), the layout of
    :class:`nbutils.model.MLPEnsemble`'s logits, so :func:`nbutils.metrics.predict` reads it unchanged."""

    def __init__(self, parts):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.n_models = parts[0].n_models

    def forward(self, x):
        probabilities = torch.stack([part(x).softmax(dim=1) for part in self.parts]).mean(dim=0)
        return probabilities.log()


def assign(ids, shards, seed):
    """Each row's shard, from its id: rows ranked by a hash of the id keyed by ``seed``'s stream ``"shards"``, then
    dealt to shards 0, 1, ..., S - 1 in turn. Returns (S arrays of row positions in hash order)."""
    key = np.random.SeedSequence([seed, zlib.crc32(b"shards")]).generate_state(1, dtype=np.uint64)[0]
    hashes = pd.util.hash_array(np.asarray(ids).astype(str).astype(object), hash_key=f"{int(key):016x}")
    order = np.argsort(hashes, kind="stable")
    return [order[s::shards] for s in range(shards)]


def without(rows, deleted):
    """Each shard's rows in ``rows`` less the positions in ``deleted``, in the same order."""
    return [r[~np.isin(r, deleted)] for r in rows]


def check(rows):
    """Refuse shards too small to train: BatchNorm needs 2 rows in a batch (a clear error before any training)."""
    smallest = min(len(r) for r in rows)
    if smallest < 2:
        raise ValueError(f"shards: {len(rows)} shards leave one with {smallest} training rows; BatchNorm needs at "
                         "least 2: lower `shards` (0 turns sharding off)")


def train_shards(architecture, X, y, rows, n_models, generator_of, only=None):
    """Train the N sub-models of each shard in ``only`` (default: every shard) on its rows; shard s from the
    stream ``generator_of(s)``. Returns {shard: MLPEnsemble}."""
    picked = {s: torch.as_tensor(r, device=X.device) for s, r in enumerate(rows) if only is None or s in only}
    return {s: fit_ensemble(architecture, X[r], y[r], n_models, generator_of(s), progress=False)[0]
            for s, r in picked.items()}


def fit(architecture, X, y, rows, n_models, generator_of):
    """The sharded model: N aggregates of S sub-models, sub-model s trained on ``rows[s]``."""
    parts = train_shards(architecture, X, y, rows, n_models, generator_of)
    return ShardedEnsemble([parts[s] for s in range(len(rows))])


def unlearn(model, architecture, X, y, rows, deleted, generator_of):
    """SISA: ``model`` (trained on ``rows`` by :func:`fit` from ``generator_of``) with every shard that holds a
    position in ``deleted`` retrained from scratch without those rows, from the same streams; the others kept.
    Returns (the new ShardedEnsemble, the shards retrained)."""
    hit = [s for s, r in enumerate(rows) if np.isin(r, deleted).any()]
    retrained = train_shards(architecture, X, y, without(rows, deleted), n_models=model.n_models,
                             generator_of=generator_of, only=hit)
    return ShardedEnsemble([retrained.get(s, part) for s, part in enumerate(model.parts)]), hit


@dataclass
class ShardReport:
    """One replicate's sharded rows (stage ``"shards"``) and the figures the report and the verdict quote."""

    scored: list  # evaluation.Scored of sharded, sisa, sharded_retrain and (with the challenge score) its ceiling
    shards: int
    hit: int  # shards that held a forget row, and were retrained
    figures: dict  # see :func:`figures`


def run(params, replicate, device):
    """The sharded model, SISA's unlearning of ``replicate``'s forget rows, and the sharded models retrained from
    scratch (N, and N more as the ceiling with the challenge score), scored against the latter; None with
    ``shards`` 0 or 1 or on an exported model (a deployed model is not sharded)."""
    S = params["shards"]
    if S < 2 or params.get("original_model"):
        return None
    dataset, mono = replicate.dataset, replicate.reference
    splits = dataset.splits
    X, y = splits.X_train, splits.y_train
    ids = np.concatenate([dataset.ids["retain"], dataset.ids["forget"]])
    forget = np.arange(len(splits.y_retain), len(y))  # X_train is the retain rows, then the forget rows
    rows = assign(ids, S, params["train_seed"])
    check(without(rows, forget))
    architecture = {**params, "n_classes": dataset.n_classes}
    n_models, n_retrain = evaluation.ensemble_sizes(params)

    def stream(name):
        return lambda s: runtime.generator(device, params["train_seed"], name, s)

    original = fit(architecture, X, y, rows, n_models, stream("sharded"))
    (sisa, hit), macs, sisa_seconds = timed(lambda: unlearn(original, architecture, X, y, rows, forget,
                                                            stream("sharded")), device)
    retrain, retrain_macs, retrain_seconds = timed(lambda: fit(architecture, X, y, without(rows, forget), n_retrain,
                                                                stream("sharded-retrain")), device)
    retrain_macs /= n_retrain
    all_retrain = predict(retrain, splits, dataset.ids)
    reference = evaluation.Reference(original, predict(original, splits, dataset.ids),
                                     all_retrain.subset(slice(n_models)), params["n_seeds"], params["challenge_models"],
                                     mono.retrain_macs)  # cost shares stay shares of retraining the monolithic model
    where = {"replicate": replicate.number, "stage": STAGE, "full": True}
    label, value = f"S={S}", float(S)
    scored = [
        evaluation.evaluate("sharded", label, value, reference.original_preds, reference, macs_per_model=0, **where),
        evaluation.evaluate("sisa", label, value, predict(sisa, splits, dataset.ids), reference,
                            seconds_per_model=sisa_seconds / n_models, macs_per_model=macs / n_models, **where),
        evaluation.evaluate("sharded_retrain", label, value, reference.retrain_preds, reference, target=True,
                            seconds_per_model=retrain_seconds / n_retrain, macs_per_model=retrain_macs, **where),
    ]
    if params["challenge_models"]:
        scored.append(evaluation.evaluate("sharded_retrain_2", label, value, all_retrain.subset(slice(n_models, None)),
                                          reference, seconds_per_model=retrain_seconds / n_retrain,
                                          macs_per_model=retrain_macs, **where))
    for s in scored:
        s.examples = None  # examples.parquet holds the monolithic models' rows only
    rows = evaluation.results_table([*replicate.references, *scored])
    return ShardReport(scored, S, len(hit), figures(rows, {s.config[0]: s.challenge_draws for s in scored}))


def timed(work, device):
    """(what ``work()`` returns, the multiply-adds it counted, its seconds, GPU work included) on ``device``."""
    start = time.perf_counter()
    with cost.counted() as counted:
        out = work()
    if device.type == "cuda":
        torch.cuda.synchronize()  # GPU work is asynchronous: time it, not its launch
    return out, counted.macs, time.perf_counter() - start


def figures(rows, draws=None):
    """What the report and the leaderboard quote, from results.csv ``rows`` of one replicate: its sharded rows
    (stage ``"shards"``) and its monolithic references. Test accuracy of the sharded models less the monolithic
    ones' (before the request: sharded against the original; after: SISA against retraining), in points with
    Welch intervals; SISA's cost as a share of retraining the monolithic model (multiply-adds and seconds) and of
    retraining every shard; with the challenge score, SISA's and the sharded ceiling's, each with its interval,
    and, given ``draws`` ({"sisa": ..., "sharded_retrain_2": ...} bootstrap draws), their difference with a
    paired interval."""
    def of(method, stage=None):
        return rows[(rows["method"] == method) & ((rows["stage"] == STAGE) == (stage == STAGE))]

    def accuracy(a, b):
        return (a["test_acc"].mean() - b["test_acc"].mean(), *intervals.welch_interval(a["test_acc"], b["test_acc"]))

    sisa = of("sisa", STAGE).iloc[0]
    out = {
        "shards": int(sisa["value"]),
        "acc_before": accuracy(of("sharded", STAGE), of("original")),
        "acc_after": accuracy(of("sisa", STAGE), of("retrain")),
        "cost_share": sisa["cost_share"],
        "seconds_share": sisa["seconds_per_model"] / of("retrain")["seconds_per_model"].iloc[0],
        "share_of_shards": sisa["cost_share"] / of("sharded_retrain", STAGE)["cost_share"].iloc[0],
        "score": None, "score_gap": None,
    }
    ceiling = of("sharded_retrain_2", STAGE)
    if len(ceiling) and not np.isnan(sisa["challenge_score"]):
        ceiling = ceiling.iloc[0]
        out["score"] = (*sisa[["challenge_score", "challenge_score_lo", "challenge_score_hi"]],
                        *ceiling[["challenge_score", "challenge_score_lo", "challenge_score_hi"]])
        if draws is not None:
            out["score_gap"] = (sisa["challenge_score"] - ceiling["challenge_score"],
                                *intervals.difference_interval(draws["sisa"], draws["sharded_retrain_2"])[:2])
    return out


def table(report, monolithic):
    """The section's table: the monolithic references (``monolithic``, a replicate's Scored references) and the
    sharded rows; accuracies mean ± std over models, the challenge score with its interval, costs per model."""
    rows = pd.concat([s.rows for s in [*monolithic, *report.scored]], ignore_index=True)
    stats = tables.aggregate(rows)
    out = pd.DataFrame(index=[NAMES.get(m, tables.REFERENCES.get(m, m)).replace("S shards", f"{report.shards} shards")
                              for m, _ in stats.index])
    for col in ["test_acc", "forget_acc", "retain_acc"]:
        out[tables.LABELS[col]] = [tables.formatted(m, s, 2) for m, s in zip(stats[(col, "mean")], stats[(col, "std")])]
    out[tables.LABELS["challenge_score"]] = [
        tables.formatted(m, (lo, hi), 4) for m, lo, hi in zip(stats[("challenge_score", "mean")],
                                                              stats[("challenge_score_lo", "mean")],
                                                              stats[("challenge_score_hi", "mean")])]
    out["% of monolithic retraining's work"] = [tables.formatted(100 * m, np.nan, 1)
                                                for m in stats[("cost_share", "mean")]]
    out["ms per model"] = [tables.formatted(1000 * m, np.nan, 1) for m in stats[("seconds_per_model", "mean")]]
    return out


def findings(report):
    """The section's findings in Markdown, every figure from ``report``."""
    f = report.figures
    lines = [
        f"- Aggregation: each of the N models averages the class probabilities of its {report.shards} sub-models. "
        f"The forget rows fell in {report.hit} of the {report.shards} shards, which SISA retrained.",
        f"- Test accuracy, sharded minus monolithic: {_points(f['acc_before'])} before the request (sharded "
        f"against the original), {_points(f['acc_after'])} after it (SISA against retraining).",
        f"- Cost of this request: {f['cost_share']:.1%} of retraining the monolithic model in multiply-adds "
        f"({f['seconds_share']:.1%} in seconds), {f['share_of_shards']:.1%} of retraining every shard.",
    ]
    if f["score_gap"] is not None:
        gap, low, high = f["score_gap"]
        within = "within noise of it" if low <= 0 <= high else "outside this interval"
        lines.append(f"- Challenge score against sharded models retrained from scratch: SISA {f['score'][0]:.3f}, the "
                     f"sharded ceiling {f['score'][3]:.3f}; difference {gap:+.3f} [{low:+.3f}, {high:+.3f}] (paired "
                     f"bootstrap over forget rows), {within}. SISA is exact: its models are sharded models trained "
                     "without the forget rows, so a difference is the spread between ensembles of N models, which "
                     "this interval, over these models only, does not cover.")
    return "\n".join(lines)


def verdict_sentence(report):
    """One sentence for the verdict, or "" without a sharded model."""
    if report is None:
        return ""
    f = report.figures
    return (f"\n\nExact unlearning by shards ({report.shards} shards, [section 8](#8.-Retrain-from-scratch:-the-gold-"
            f"standard)) costs {f['cost_share']:.1%} of retraining and {_accuracy_cost(-f['acc_after'][0])} "
            "against the monolithic retrained models.")


def _accuracy_cost(points):
    return (f"{points:.1f} points of test accuracy" if points >= 0 else
            f"no test accuracy (it scores {-points:.1f} points more)")


def _points(diff):
    return f"{diff[0]:+.1f} points [{diff[1]:+.1f}, {diff[2]:+.1f}]"
