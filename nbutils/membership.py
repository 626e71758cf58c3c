"""Membership inference against the forget set: does a model still treat it as training data?"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sklearn.metrics import auc, roc_curve
from sklearn.svm import SVC

from nbutils.metrics import true_class_log_probs


def loss_attack(preds, fprs=(0.01, 0.001)):
    """The loss attack: forget rows (members) against test rows (non-members), scored by -loss.

    Returns a dict of (K,) arrays: ``mia_auc`` (ROC AUC) and ``mia_tpr@{fpr}`` for
    each false-positive rate, the largest TPR whose FPR does not exceed it
    (Carlini et al., "Membership Inference Attacks From First Principles", 2022).
    A model that never saw the forget set sits where the retrained models sit.
    """
    scores = np.concatenate([true_class_log_probs(preds.forget, preds.y_forget),
                             true_class_log_probs(preds.test, preds.y_test)], axis=1)
    members = np.r_[np.ones(len(preds.y_forget)), np.zeros(len(preds.y_test))]
    curves = [roc_curve(members, s) for s in scores]
    out = {"mia_auc": np.array([auc(fpr, tpr) for fpr, tpr, _ in curves])}  # what roc_auc_score computes
    for target in fprs:
        out[f"mia_tpr@{target:g}"] = 100 * np.array([tpr[fpr <= target].max() for fpr, tpr, _ in curves])
    return out


SVC_ROWS = 1000  # rows per side the RBF SVC fits on at most: its fit grows quadratically with them


def svc_retain_rows(preds):
    """How many rows per side (the first ones) the MIA-efficacy attack fits on: as many retain rows as test rows,
    at most ``SVC_ROWS``."""
    return min(len(preds.y_test), len(preds.y_retain), SVC_ROWS)


def mia_efficacy(preds):
    """SalUn's MIA-efficacy: the percentage of forget rows an attacker calls non-members.

    As in SalUn (Fan et al., ICLR 2024, ``evaluation/SVC_MIA.py``): an RBF SVC
    (C=3, gamma="auto") is fit, per model, on the true-class confidence of as
    many retain rows (members) as there are test rows (non-members), at most
    ``SVC_ROWS`` each, then applied to the forget rows. Returns a (K,) array in percent.
    """
    n = svc_retain_rows(preds)
    member = np.exp(true_class_log_probs(preds.retain[:, :n], preds.y_retain[:n]))
    non_member = np.exp(true_class_log_probs(preds.test[:, :n], preds.y_test[:n]))
    forget = np.exp(true_class_log_probs(preds.forget, preds.y_forget))
    labels = np.r_[np.ones(n), np.zeros(n)]

    def efficacy(m, nm, f):
        svc = SVC(C=3, gamma="auto", kernel="rbf").fit(np.r_[m, nm][:, None], labels)
        return 100 * (1 - svc.predict(f[:, None]).mean())

    with ThreadPoolExecutor(torch.get_num_threads()) as pool:  # libsvm releases the GIL: one model per thread
        return np.array(list(pool.map(efficacy, member, non_member, forget)))


def per_example_attack(unlearned, retrained):
    """A per-example likelihood-ratio attack in the style of U-LiRA (Hayes et al., SaTML 2025), leave one model out.

    ``unlearned`` and ``retrained``: (N, n) logit-scaled confidences of N models of each kind on n forget rows.
    For each row and each of the 2N models in turn, one Gaussian is fit to the other unlearned models'
    confidences and one to the other retrained models'; the held-out model is called unlearned when its
    confidence is likelier under the first. Returns each row's attack accuracy, the share of the 2N held-out
    models classified correctly: 0.5 means the row's unlearned and retrained models cannot be told apart.
    Unlike Hayes et al.'s U-LiRA, the forget set is fixed and no shadow models are trained per example.
    """
    u, r = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    correct = np.zeros(u.shape[1])
    for held, kind in [(u, "unlearned"), (r, "retrained")]:
        own, other = (u, r) if kind == "unlearned" else (r, u)
        # leave-one-out mean and variance of the held-out model's own kind, per model and row
        n = len(own)
        total, squares = own.sum(axis=0), (own ** 2).sum(axis=0)
        loo_mean = (total - own) / (n - 1)
        loo_var = np.maximum((squares - own ** 2) / (n - 1) - loo_mean ** 2, 0) * (n - 1) / max(n - 2, 1)
        other_mean, other_var = other.mean(axis=0), other.var(axis=0, ddof=1)
        own_ll = _gaussian_log_likelihood(held, loo_mean, loo_var)
        other_ll = _gaussian_log_likelihood(held, other_mean, other_var)
        correct += (own_ll > other_ll).sum(axis=0) + 0.5 * (own_ll == other_ll).sum(axis=0)
    return correct / (len(u) + len(r))


def _gaussian_log_likelihood(x, mean, var, floor=1e-6):
    """log N(x; mean, var), the variance floored so that a point mass does not give an infinite density."""
    var = np.maximum(var, floor)
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)
