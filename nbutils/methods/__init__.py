"""The unlearning methods, each applied to every model of an ensemble at once, and their registry.

``noise``: the seed's five. ``fisher``: Fisher forgetting. ``finetune``: the
fine-tuning control, noise then repair, Langevin unlearning. ``certified``:
certified output perturbation. ``dampening``: Selective Synaptic Dampening.
``baselines``: the field's standard methods (NegGrad+, SCRUB, SalUn, CF-k, EU-k, l1-sparse, Bad Teacher)
and noise then repair with a choice of repair; ``competition``: the NeurIPS 2023 competition's top three.
Both run on ``steps``, gradient steps with any loss on the logits. Every method returns a new model and
leaves its input untouched.
"""

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from nbutils.methods import baselines, certified, competition, dampening, finetune, fisher, noise


@dataclass(frozen=True)
class Method:
    """A method as the report shows it.

    ``apply(model, value, generator, splits, params)`` returns the unlearned copy of every model:
    ``value`` is one setting of the sweep, ``generator`` the method's random stream, ``splits``
    holds X_retain, y_retain, X_forget, y_forget on the model's device, and ``params`` is the
    notebook's parameter dict, of which the method reads only the names in ``reads``.
    ``knob`` is the swept quantity, listed in ``sweep_parameter``; ``grid`` names further
    (knob, parameter) pairs swept as a grid with it, each setting's value then a tuple. ``settings_of``
    names a parameter that names the method whose sweep this one runs (noise then repair's ``repair_with``).
    """

    name: str
    label: str
    knob: str
    sweep_parameter: str
    reads: tuple[str, ...]
    apply: Callable
    grid: tuple[tuple[str, str], ...] = ()
    settings_of: str = ""

    def settings(self, params):
        """The sweep as {label: value}: a number per setting, a layer-wise strategy's sigmas, or a grid's tuples."""
        if self.settings_of and params.get(self.settings_of):
            return METHODS[params[self.settings_of]].settings(params)
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
LAST_LAYERS = ("last_layers_epochs", "last_layers_lr", "finetune_batch_size")

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
               ("finetune_steps", "repair_base", "repair_base_value", "repair_with", *FINETUNING), baselines.repair,
               settings_of="repair_with"),
        Method("finetune", "Fine-tuning (control)", "steps", "finetune_steps", ("finetune_steps", *FINETUNING),
               finetune.finetune),
        Method("certified", "Certified noise", "epsilon", "certified_epsilons",
               ("certified_epsilons", "certified_delta", "certified_radius", "certified_repair_steps", *FINETUNING),
               certified.certified),
        Method("langevin", "Langevin", "sigma", "langevin_sigmas",
               ("langevin_sigmas", "langevin_steps", "langevin_clip_quantile", "langevin_l2", *FINETUNING), finetune.langevin,
               grid=(("steps", "langevin_steps"),)),
        Method("dampening", "Selective Synaptic Dampening", "alpha", "dampening_alphas",
               ("dampening_alphas", "dampening_lambdas"), dampening.dampening, grid=(("lambda", "dampening_lambdas"),)),
        Method("neggrad", "NegGrad+", "alpha", "neggrad_alphas",
               ("neggrad_alphas", "neggrad_epochs", "neggrad_lr", "finetune_batch_size"), baselines.neggrad,
               grid=(("epochs", "neggrad_epochs"),)),
        Method("scrub", "SCRUB", "epochs", "scrub_epochs",
               ("scrub_epochs", "scrub_lrs", "scrub_max_epochs", "scrub_alpha", "scrub_gamma", "scrub_temperature",
                "finetune_batch_size"), baselines.scrub, grid=(("lr", "scrub_lrs"),)),
        Method("salun", "SalUn", "mask", "salun_mask_fractions",
               ("salun_mask_fractions", "salun_epochs", "salun_lr", "finetune_batch_size"), baselines.salun),
        Method("cfk", "CF-k", "k", "cfk_layers", ("cfk_layers", *LAST_LAYERS), baselines.cfk),
        Method("euk", "EU-k", "k", "euk_layers", ("euk_layers", *LAST_LAYERS), baselines.euk),
        Method("l1sparse", "l1-sparse fine-tuning", "weight", "l1_weights",
               ("l1_weights", "l1_epochs", "l1_lr", "finetune_batch_size"), baselines.l1_sparse),
        Method("badteacher", "Bad Teacher", "epochs", "badteacher_epochs",
               ("badteacher_epochs", "badteacher_lrs", "badteacher_retain_share", "finetune_batch_size"),
               baselines.bad_teacher, grid=(("lr", "badteacher_lrs"),)),
        Method("fcs", "FCS (NeurIPS 2023, 1st)", "epochs", "fcs_epochs", ("fcs_epochs", "finetune_batch_size"),
               competition.fcs),
        Method("msg", "MSG (NeurIPS 2023, 2nd)", "rate", "msg_rates",
               ("msg_rates", "msg_epochs", "msg_lr", "finetune_batch_size"), competition.msg),
        Method("cfw", "CFW (NeurIPS 2023, 3rd)", "sigma", "cfw_sigmas",
               ("cfw_sigmas", "cfw_epochs", "cfw_lr", "finetune_batch_size"), competition.cfw),
    ]
}
# The methods that perturb the weights with random noise (the leaderboard marks them): the seed's five, Fisher
# forgetting, noise then repair, certified noise, Langevin fine-tuning and CFW.
ADDS_NOISE = frozenset({"gaussian", "laplacian", "adaptive", "layerwise", "gradient", "fisher", "repair", "certified",
                        "langevin", "cfw"})
