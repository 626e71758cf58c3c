"""Fisher forgetting (Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020).

Gaussian noise with per-parameter variance alpha / (F + 1e-8), F the diagonal
Fisher information of the retain-set loss: parameters the retain rows pin down
move little, the rest move more. F is the expected Fisher over each model's own
predicted label distribution, exact per example (:func:`gradients.expected_fisher`,
BatchNorm in evaluation mode). The variance is clamped as the public code clamps
it (Golatkar's ``get_mean_var``, copied in SalUn's ``fisher_new``): 1 / (F + 1e-8)
at most 1e3, and at most 1e2 for the output layer, before the factor alpha. Their
further heuristics (row-averaged variances, ten times more on BatchNorm and the
output layer) are left out. F is computed once per model and retain set (:mod:`importance`).
"""

from nbutils.methods import importance
from nbutils.methods.gradients import expected_fisher
from nbutils.methods.noise import perturbed, randn

MAX_INVERSE_FISHER = 1e3
MAX_INVERSE_FISHER_OUTPUT = 1e2


def noise_std(model, X_retain, alpha):
    """Each parameter's noise standard deviation, sqrt(alpha * clamped 1 / (F + 1e-8)), by name."""
    fisher = importance.cached("expected_fisher", model, (X_retain,), lambda: expected_fisher(model, X_retain))
    output = f"linears.{len(model.linears) - 1}."
    return {
        name: (alpha * (1 / (f + 1e-8)).clamp(max=MAX_INVERSE_FISHER_OUTPUT if name.startswith(output)
                                               else MAX_INVERSE_FISHER)).sqrt()
        for name, f in fisher.items()
    }


def fisher_forgetting(model, alpha, generator, splits, params=None):
    """Add N(0, alpha / F) noise to every parameter, F the retain set's diagonal Fisher (clamped)."""
    std = noise_std(model, splits.X_retain, alpha)
    return perturbed(model, lambda name, p: randn(p, generator) * std[name])
