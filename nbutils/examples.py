"""Per-example outputs: what every model says about each row the forgetting figures are computed from.

One row per configuration, model and example of the forget and test sets, and of the retain rows that the
MIA-efficacy attack fits on, so that every forgetting figure in results.csv can be recomputed from this table.
"""

import numpy as np
import pandas as pd

from nbutils.challenge import logit_scaled_confidence
from nbutils.membership import svc_retain_rows
from nbutils.metrics import true_class_log_probs

SPLITS = ("retain", "forget", "test")


def example_rows(method, setting, preds, challenge=None, attack=None):
    """The table for one configuration's Predictions; ``challenge`` adds each forget row's epsilon and points,
    ``attack`` (one value per forget row) the per-example attack's accuracy."""
    frames, n_svc = [], svc_retain_rows(preds)
    for split in SPLITS:
        logits, y, ids = getattr(preds, split), getattr(preds, f"y_{split}"), preds.row_ids[split]
        if split == "retain":
            logits, y, ids = logits[:, :n_svc], y[:n_svc], ids[:n_svc]
        k, n = logits.shape[:2]
        frame = pd.DataFrame({
            "model": np.repeat(np.arange(k, dtype=np.int32), n),
            "split": split,
            "row_id": np.tile(ids, k),
            "label": np.tile(y, k),
            "confidence": logit_scaled_confidence(logits, y).ravel(),
            "loss": -true_class_log_probs(logits, y).ravel(),
            "correct": (logits.argmax(axis=-1) == y).ravel(),
            "svc_fit": np.tile(np.arange(n) < n_svc, k) if split != "forget" else False,  # the efficacy SVC's rows
        })
        forget_values = split == "forget" and challenge is not None
        frame["epsilon"] = np.tile(challenge.epsilons, k) if forget_values else np.nan
        frame["points"] = np.tile(challenge.points, k) if forget_values else np.nan
        frame["attack_acc"] = np.tile(attack, k) if split == "forget" and attack is not None else np.nan
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "setting", setting)
    out.insert(0, "method", method)
    return out


def as_table(frames, class_names):
    """One table from per-configuration frames, labels as the table spells them, text columns categorical."""
    out = pd.concat(frames, ignore_index=True)
    out["label"] = pd.Categorical.from_codes(out["label"], [str(c) for c in class_names])
    for col in ("method", "setting", "split"):
        out[col] = out[col].astype("category")
    return out
