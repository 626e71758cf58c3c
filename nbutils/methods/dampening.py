"""Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024): the deterministic contrast to noise.

Importance of a parameter = its diagonal empirical Fisher, the mean over rows of the
squared per-example cross-entropy gradient (true labels, BatchNorm in evaluation
mode), on the forget rows (F) and on all training rows, retain and forget (D).
Parameters with F > alpha * D are multiplied by min(lambda * D / F, 1); the rest are
untouched. The authors' code squares mini-batch gradients; per-example ones make F
and D comparable whatever the set sizes. F and D are computed once per model and rows, whatever the
setting (:mod:`importance`).
"""

import copy

import torch

from nbutils.methods import importance
from nbutils.methods.gradients import empirical_fisher


def importances(model, splits):
    """(forget importance F, train importance D), each by parameter name."""
    forget = empirical_fisher(model, splits.X_forget, splits.y_forget)
    X_train, y_train = torch.cat([splits.X_retain, splits.X_forget]), torch.cat([splits.y_retain, splits.y_forget])
    return forget, empirical_fisher(model, X_train, y_train)


def dampening_factors(model, splits, alpha, lam):
    """The factor each parameter is multiplied by, by name: 1 where forget importance <= alpha * train importance."""
    rows = (splits.X_forget, splits.y_forget, splits.X_retain, splits.y_retain)
    forget, train = importance.cached("dampening", model, rows, lambda: importances(model, splits))
    factors = {}
    for name, f in forget.items():
        d = train[name]
        shrink = (lam * d / f.clamp(min=1e-30)).clamp(max=1)
        factors[name] = torch.where(f > alpha * d, shrink, torch.ones_like(f))
    return factors


def dampening(model, setting, generator, splits, params=None):
    """Multiply each parameter by its dampening factor; ``setting`` is (alpha, lambda); no randomness."""
    alpha, lam = setting
    factors = dampening_factors(model, splits, alpha, lam)
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in out.named_parameters():
            p.mul_(factors[name])
    return out
