"""Certified noise for the whole network: output perturbation (Koloskova et al., ICML 2025).

Each model's parameter vector (every Linear weight and bias and BatchNorm's scale
and shift) is projected onto the L2 ball of radius C = ``certified_radius``, then
every coordinate gets N(0, sigma^2) noise, sigma from the analytic Gaussian
mechanism for sensitivity 2C (:func:`gaussian_sigma`). What it rests on: any two
parameter vectors in the ball differ by at most 2C, so whatever data produced
them, the noisy projected model of the original and that of a model retrained
without the forget rows are (epsilon, delta)-indistinguishable. The guarantee
covers the projected models: a C below a model's norm changes it before any noise
(:func:`projection_shift` says by how much).

BatchNorm's running statistics are buffers computed from the training rows, forget
rows included, so no noise on the parameters covers them. They are recomputed from
the retain rows alone after the noise (and again after any repair), as training computes them: each BatchNorm
sees the layer below with dropout on (:func:`nbutils.methods.steps.retain_statistics`). Without dropout
they differ from the trained ones: recomputed that way, the ceiling ensemble's own challenge score fell from
0.149 to 0.130 (issue 14). Repair is
``certified_repair_steps`` SGD steps on the retain rows: post-processing that never
touches the forget rows, so the (epsilon, delta) certificate still holds.
"""

import copy
import math

import torch

from nbutils.methods.finetune import retain_sgd
from nbutils.methods.steps import retain_statistics
from nbutils.runtime import substream


def gaussian_sigma(epsilon, delta, sensitivity):
    """The smallest sigma for which N(0, sigma^2) noise on a query of L2 ``sensitivity`` is (epsilon, delta)-DP.

    The analytic Gaussian mechanism (Balle and Wang, ICML 2018, Theorem 8), valid for every
    epsilon > 0, unlike the classical sensitivity * sqrt(2 ln(1.25 / delta)) / epsilon (epsilon < 1
    only): sigma solves Phi(s / (2 sigma) - epsilon sigma / s) - e^epsilon Phi(-s / (2 sigma) - epsilon sigma / s)
    = delta, s the sensitivity. Found by bisection on log sigma; epsilon = inf gives 0.
    """
    if math.isinf(epsilon):
        return 0.0
    lo, hi = math.log(sensitivity) - 40, math.log(sensitivity) + 40
    for _ in range(200):
        mid = (lo + hi) / 2
        if analytic_delta(epsilon, math.exp(mid), sensitivity) > delta:
            lo = mid
        else:
            hi = mid
    return math.exp(hi)


def analytic_delta(epsilon, sigma, sensitivity):
    """The delta that N(0, sigma^2) noise achieves at ``epsilon`` for a query of L2 ``sensitivity``."""
    a = sensitivity / (2 * sigma) - epsilon * sigma / sensitivity
    b = -sensitivity / (2 * sigma) - epsilon * sigma / sensitivity
    log_phi = torch.special.log_ndtr(torch.tensor([a, b], dtype=torch.float64)).tolist()
    return math.exp(log_phi[0]) - math.exp(epsilon + log_phi[1])


def _norms(model):
    """L2 norm of each model's whole parameter vector: (K,)."""
    return sum(p.detach().flatten(1).square().sum(dim=1) for p in model.parameters()).sqrt()


def parameter_norms(model):
    """L2 norm of each model's whole parameter vector: (K,) numpy."""
    return _norms(model).detach().cpu().numpy()


def projection_shift(model, radius):
    """How far the projection onto the ball moves each model, relative to its norm: (K,) numpy, 0 inside the ball."""
    norms = _norms(model)
    return (1 - (radius / norms).clamp(max=1)).cpu().numpy()


def certificate(params):
    """{label: (epsilon, delta, sigma)} of each setting of the sweep, as the report states them."""
    delta, sensitivity = params["certified_delta"], 2 * params["certified_radius"]
    return {f"epsilon={e:g}": (e, delta, gaussian_sigma(e, delta, sensitivity)) for e in params["certified_epsilons"]}


def certified(model, epsilon, generator, splits, params):
    """Project onto the ball of radius ``certified_radius``, add Gaussian noise for (epsilon, ``certified_delta``),
    recompute BatchNorm's statistics from the retain rows, then ``certified_repair_steps`` SGD steps on them.

    The statistics' dropout masks come from a stream of their own (:func:`~nbutils.runtime.substream`,
    "statistics"), so the repair draws from ``generator`` what it would without them."""
    radius, steps = params["certified_radius"], params["certified_repair_steps"]
    sigma = gaussian_sigma(epsilon, params["certified_delta"], 2 * radius)
    out = copy.deepcopy(model)
    scale = (radius / _norms(out)).clamp(max=1)  # (K,)
    with torch.no_grad():
        for p in out.parameters():
            p.mul_(scale.view(-1, *[1] * (p.dim() - 1)))
            if sigma:
                p.add_(torch.randn(p.shape, generator=generator, device=p.device) * sigma)
    statistics = substream(generator, "statistics")
    retain_statistics(out, splits.X_retain, statistics)
    if steps:
        out = retain_sgd(out, splits.X_retain, splits.y_retain, steps=steps, lr=params["finetune_lr"],
                         batch_size=params["finetune_batch_size"], generator=generator)
        retain_statistics(out, splits.X_retain, statistics)
    return out
