"""The unlearning methods, each applied to every model of an ensemble at once, and their registry.

``noise``: the seed's five. ``fisher``: Fisher forgetting. ``finetune``: the
fine-tuning control, noise then repair, Langevin unlearning. ``certified``:
certified output perturbation. ``dampening``: Selective Synaptic Dampening.
Every method returns a new model and leaves its input untouched.
"""

import itertools
import math
from dataclasses import dataclass
from typing import Callable

from nbutils.methods import certified, dampening, finetune, fisher, noise


@dataclass(frozen=True)
class Method:
    """A method as the report shows it.

    ``apply(model, value, generator, splits, params)`` returns the unlearned copy of every model:
    ``value`` is one setting of the sweep, ``generator`` the method's random stream, ``splits``
    holds X_retain, y_retain, X_forget, y_forget on the model's device, and ``params`` is the
    notebook's parameter dict, of which the method reads only the names in ``reads``.
    ``knob`` is the swept quantity, listed in ``sweep_parameter``; ``grid`` names further
    (knob, parameter) pairs swept as a grid with it, each setting's value then a tuple.
    """

    name: str
    label: str
    knob: str
    sweep_parameter: str
    reads: tuple[str, ...]
    apply: Callable
    grid: tuple[tuple[str, str], ...] = ()

    def settings(self, params):
        """The sweep as {label: value}: a number per setting, a layer-wise strategy's sigmas, or a grid's tuples."""
        values = params[self.sweep_parameter]
        if isinstance(values, dict):
            return dict(values)
        if not self.grid:
            return {f"{self.knob}={v:g}": v for v in values}
        knobs = [self.knob, *(knob for knob, _ in self.grid)]
        lists = [values, *(params[parameter] for _, parameter in self.grid)]
        return {", ".join(f"{k}={v:g}" for k, v in zip(knobs, combo)): combo for combo in itertools.product(*lists)}

    @staticmethod
    def numeric(value):
        """The number for the results' ``value`` column: the value, a grid's first knob, or nan for a list."""
        if isinstance(value, tuple):
            return value[0]
        return math.nan if isinstance(value, (list, dict)) else value


FINETUNING = ("finetune_lr", "finetune_batch_size")

METHODS = {
    m.name: m
    for m in [
        Method("gaussian", "Gaussian", "sigma", "gaussian_sigmas", ("gaussian_sigmas",), noise.gaussian),
        Method("laplacian", "Laplacian", "scale", "laplacian_scales", ("laplacian_scales",), noise.laplacian),
        Method("adaptive", "Adaptive", "base_sigma", "adaptive_base_sigmas",
               ("adaptive_base_sigmas", "adaptive_importance_weight"), noise.adaptive),
        Method("layerwise", "Layer-wise", "strategy", "layerwise_strategies", ("layerwise_strategies",),
               noise.layerwise),
        Method("gradient", "Gradient-based", "multiplier", "gradient_multipliers", ("gradient_multipliers",),
               noise.gradient),
        Method("fisher", "Fisher forgetting", "alpha", "fisher_alphas", ("fisher_alphas",),
               fisher.fisher_forgetting),
        Method("repair", "Noise, then repair", "steps", "finetune_steps",
               ("finetune_steps", "repair_base", "repair_base_value", *FINETUNING), finetune.repair),
        Method("finetune", "Fine-tuning (control)", "steps", "finetune_steps", ("finetune_steps", *FINETUNING),
               finetune.finetune),
        Method("certified", "Certified noise", "epsilon", "certified_epsilons",
               ("certified_epsilons", "certified_delta", "certified_radius", "certified_repair_steps", *FINETUNING),
               certified.certified),
        Method("langevin", "Langevin", "sigma", "langevin_sigmas",
               ("langevin_sigmas", "langevin_steps", "langevin_clip", *FINETUNING), finetune.langevin,
               grid=(("steps", "langevin_steps"),)),
        Method("dampening", "Selective Synaptic Dampening", "alpha", "dampening_alphas",
               ("dampening_alphas", "dampening_lambdas"), dampening.dampening, grid=(("lambda", "dampening_lambdas"),)),
    ]
}
