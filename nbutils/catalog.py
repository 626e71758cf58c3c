"""The catalog: every unlearning method and every reference model, each defined once (no PyTorch).

A method's entry says what the report calls it, which function runs it, which notebook parameters it reads,
what it sweeps, what it is (it adds noise, it can repair after noise, it can be noise then repair's base) and
what the report and docs/methods.md say about it. The registry (:mod:`nbutils.methods`), parameter checking
(:mod:`nbutils.params`), the notebook's section 5, the tables and docs/methods.md's table are all read from here,
so a new method is its function, its entry here and its test (docs/methods.md, "Adding a method").
"""

import itertools
import math
from dataclasses import dataclass, field

# The reference models every method is measured against: the untouched original, the models retrained without
# the forget rows (the target), and a second, independently seeded retrained ensemble (the challenge's ceiling).
ORIGINAL, RETRAIN, CEILING = "original", "retrain", "retrain_2"
REFERENCES = {ORIGINAL: "Original model", RETRAIN: "Retrain from scratch", CEILING: "Retrain, 2nd ensemble (ceiling)"}
# The sharded model kind (nbutils/sisa.py): before the request, after SISA's exact unlearning, and retrained
SHARDED = {"sharded": "Sharded model (S shards), before the request",
           "sisa": "SISA: its shards with a forget row retrained",
           "sharded_retrain": "Sharded model retrained from scratch",
           "sharded_retrain_2": "Sharded, 2nd retrained (ceiling)"}
FAMILIES = {  # in report order: who the methods come from
    "seed": "the seed's noise", "literature": "methods from the literature", "baseline": "the field's baselines",
    "competition": "the NeurIPS 2023 competition's top three",
}
REQUESTS = ("random", "class", "where", "ids")  # the kinds of forget request a sweep may depend on
LIMITS = {  # what a parameter's values (each of a list's) must be: :mod:`nbutils.params` checks them
    "noise": "noise levels must be finite and non-negative", "share": "must lie in [0, 1]",
    "rate": "must be finite and non-negative", "steps": "step counts must be 0 or more",
    "epochs": "epoch counts must be 0 or more", "count": "must be 0 or more",
}



def request_kind(forget):
    """The kind of a ``forget`` request (``random``, ``class:...``, ``where:...``, ``ids:...``), a key of
    ``REQUESTS``."""
    return forget.split(":", 1)[0]

@dataclass(frozen=True)
class Sweep:
    """What a method sweeps: its ``knob``, named in the report, listed in ``parameter``; ``grid`` names further
    (knob, parameter) pairs swept as a grid with it, each setting's value then a tuple."""

    knob: str
    parameter: str
    grid: tuple[tuple[str, str], ...] = ()

    @property
    def parameters(self):
        """The notebook parameters that list its settings."""
        return [self.parameter, *(parameter for _, parameter in self.grid)]

    @property
    def knobs(self):
        return [self.knob, *(knob for knob, _ in self.grid)]

    def settings(self, params):
        """{label: value}: a number per setting, a layer-wise strategy's sigmas, or a grid's tuples."""
        values = params[self.parameter]
        if isinstance(values, dict):
            return dict(values)
        if not self.grid:
            return {f"{self.knob}={v:g}": v for v in values}
        lists = [values, *(params[parameter] for _, parameter in self.grid)]
        return {", ".join(f"{k}={v:g}" for k, v in zip(self.knobs, combo)): combo
                for combo in itertools.product(*lists)}


@dataclass(frozen=True)
class Entry:
    """One method.

    ``function`` is the dotted path of ``apply(model, value, generator, splits, params)``, which returns the
    unlearned copy of every model (:mod:`nbutils.methods` imports it); the method reads only the parameters in
    ``reads``, and ``limits`` ({parameter: a key of ``LIMITS``}) says what their values must be. ``sweep`` is
    its sweep for every kind of forget request but those ``by_request`` gives its own ({kind: Sweep}, kinds
    from ``REQUESTS``). ``settings_of`` names a parameter that names the method whose sweep this one runs
    (noise then repair's ``repair_with``). ``adds_noise``: it perturbs the weights with random noise (the
    leaderboard marks it); ``repairs``: noise then repair may repair with it (``repair_with``);
    ``repair_base``: one number per setting of noise, so noise then repair may start from it (``repair_base``).
    ``family`` is a key of ``FAMILIES``; ``description`` and ``source`` fill docs/methods.md's table,
    ``heading`` and ``notes`` its section of the report.
    """

    name: str
    label: str
    family: str
    function: str
    sweep: Sweep
    reads: tuple[str, ...]
    description: str
    heading: str
    notes: str
    adds_noise: bool = False
    repairs: bool = False
    repair_base: bool = False
    limits: dict = field(default_factory=dict)
    settings_of: str = ""
    source: str = ""
    by_request: dict = field(default_factory=dict)

    def sweep_for(self, forget="random"):
        """The sweep for a forget request (``random``, ``class:...``, ``where:...`` or ``ids:...``)."""
        return self.by_request.get(request_kind(forget), self.sweep)

    @property
    def sweeps(self):
        """Every sweep it may run, the default first."""
        return [self.sweep, *self.by_request.values()]

    def settings(self, params):
        """The sweep for ``params``' forget request as {label: value} (a repair's when ``settings_of`` names one)."""
        if self.settings_of and params.get(self.settings_of):
            return CATALOG[params[self.settings_of]].settings(params)
        return self.sweep_for(params.get("forget", "random")).settings(params)

    @staticmethod
    def numeric(value):
        """The number for the results' ``value`` column: the value, a grid's first knob, or nan for a list."""
        if isinstance(value, tuple):
            return value[0]
        return math.nan if isinstance(value, (list, dict)) else value


FINETUNING = ("finetune_lr", "finetune_batch_size")
LAST_LAYERS = ("last_layers_lr", "finetune_batch_size")

CATALOG = {entry.name: entry for entry in [
    Entry(
        name="gaussian", label="Gaussian", family="seed", function="nbutils.methods.noise:gaussian",
        limits={"gaussian_sigmas": "noise"},
        sweep=Sweep("sigma", "gaussian_sigmas"), reads=("gaussian_sigmas",), adds_noise=True, repair_base=True,
        description="noise on every parameter", heading="Gaussian noise",
        notes="N(0, σ²) added to every weight and bias, BatchNorm's included.",
    ),
    Entry(
        name="laplacian", label="Laplacian", family="seed", function="nbutils.methods.noise:laplacian",
        limits={"laplacian_scales": "noise"},
        sweep=Sweep("scale", "laplacian_scales"), reads=("laplacian_scales",), adds_noise=True, repair_base=True,
        description="Laplace noise on every parameter", heading="Laplacian noise",
        notes=("Laplace(0, b) added to every weight and bias. Heavier tails than Gaussian; this run computes no "
               "privacy guarantee for it."),
    ),
    Entry(
        name="adaptive", label="Adaptive", family="seed", function="nbutils.methods.noise:adaptive",
        limits={"adaptive_base_sigmas": "noise", "adaptive_importance_weight": "rate"},
        sweep=Sweep("base_sigma", "adaptive_base_sigmas"),
        reads=("adaptive_base_sigmas", "adaptive_importance_weight"), adds_noise=True, repair_base=True,
        description="Gaussian noise scaled up per tensor by its forget-set gradient", heading="Adaptive noise",
        notes=("Gaussian noise with σ × (1 + weight × importance) per tensor, importance being its mean |gradient| on"
               " the forget set over the largest in the model."),
    ),
    Entry(
        name="layerwise", label="Layer-wise", family="seed", function="nbutils.methods.noise:layerwise",
        sweep=Sweep("strategy", "layerwise_strategies"), reads=("layerwise_strategies",), adds_noise=True,
        description="Gaussian noise on the Linear layers, one σ per layer", heading="Layer-wise noise",
        notes="Gaussian noise on the Linear layers only, one σ per layer by strategy.",
    ),
    Entry(
        name="gradient", label="Gradient-based", family="seed", function="nbutils.methods.noise:gradient",
        limits={"gradient_multipliers": "noise"},
        sweep=Sweep("multiplier", "gradient_multipliers"), reads=("gradient_multipliers",), adds_noise=True,
        repair_base=True,
        description="per-element σ of multiplier × \\|forget-set gradient\\|", heading="Gradient-based noise",
        notes="Gaussian noise with a per-element σ of multiplier × |gradient on the forget set|.",
    ),
    Entry(
        name="fisher", label="Fisher forgetting", family="literature",
        limits={"fisher_alphas": "noise"},
        function="nbutils.methods.fisher:fisher_forgetting", sweep=Sweep("alpha", "fisher_alphas"),
        reads=("fisher_alphas",), adds_noise=True, repair_base=True,
        source="Golatkar et al., 2020",
        description="Gaussian noise of variance α / (retain-set Fisher), clamped as the public code clamps it",
        heading="Fisher forgetting",
        notes=("Golatkar, Achille and Soatto (CVPR 2020). Every parameter gets Gaussian noise of variance α / (F + "
               "10⁻⁸), F the diagonal Fisher information of the retain rows (the expected Fisher over each model's "
               "own predicted labels, computed per example with BatchNorm on its running statistics). Parameters the "
               "retain rows pin down move little. As in the authors' public code, 1/(F + 10⁻⁸) is clamped at 10³ (10²"
               " for the output layer) before the factor α."),
    ),
    Entry(
        name="repair", label="Noise, then repair", family="literature", function="nbutils.methods.baselines:repair",
        limits={"repair_base_value": "rate"},
        sweep=Sweep("steps", "finetune_steps"),
        reads=("finetune_steps", "repair_base", "repair_base_value", "repair_with", *FINETUNING), adds_noise=True,
        settings_of="repair_with",
        description=("a noise method at one setting (`repair_base`), then k SGD steps on the retain rows, or the "
                     "sweep of the repair `repair_with` names"),
        heading="Noise, then repair",
        notes=("A noise method at one setting (`repair_base`, `repair_base_value`), then k plain-SGD steps on retain "
               "mini-batches (`finetune_lr`, `finetune_batch_size`), BatchNorm on its running statistics and dropout "
               "on, as in training. At k = 0 it is the bare noise method."),
    ),
    Entry(
        name="finetune", label="Fine-tuning (control)", family="literature",
        limits={"finetune_steps": "steps", "finetune_lr": "rate"},
        function="nbutils.methods.finetune:finetune", sweep=Sweep("steps", "finetune_steps"),
        reads=("finetune_steps", *FINETUNING), repairs=True,
        description="the same k SGD steps without noise (the NeurIPS 2023 baseline)",
        heading="Fine-tuning alone (the control)",
        notes=("The same k SGD steps on the retain rows with no noise: the NeurIPS 2023 challenge's fine-tuning "
               "baseline. At equal k it costs what repair costs, less the noise draw, so it shows whether the noise "
               "adds anything (section 10 compares them)."),
    ),
    Entry(
        name="certified", label="Certified noise", family="literature",
        limits={"certified_repair_steps": "count"},
        function="nbutils.methods.certified:certified", sweep=Sweep("epsilon", "certified_epsilons"),
        reads=("certified_epsilons", "certified_delta", "certified_radius", "certified_repair_steps", *FINETUNING),
        adds_noise=True, source="Koloskova et al., 2025",
        description=("project onto an L2 ball of radius C, Gaussian noise for (ε, δ), BatchNorm statistics from the "
                     "retain rows (dropout below, as in training), optional repair"),
        heading="Certified noise",
        notes=('Output perturbation (Koloskova et al., ICML 2025, "Certified unlearning for neural networks"). Each '
               "model's whole parameter vector is projected onto the L2 ball of radius C (`certified_radius`), then "
               "every coordinate gets Gaussian noise with σ from the analytic Gaussian mechanism (Balle and Wang, "
               "2018) for sensitivity 2C and the target (ε, δ). The guarantee rests on the ball: any two models in it"
               " differ by at most 2C, so the noisy projected original and the same mechanism applied to a model "
               "retrained without the forget rows are (ε, δ)-indistinguishable. It covers the projected models, not "
               "the trained ones, and it compares against retrained models that go through the same projection and "
               "noise. BatchNorm's running statistics are recomputed from the retain rows after the noise, as "
               "training computes them: each BatchNorm sees the layer below with dropout on (without dropout they "
               "differ from the trained statistics, and the retrained ceiling's own challenge score fell from 0.149 "
               "to 0.130 when recomputed that way); the optional repair (`certified_repair_steps` SGD steps on the "
               "retain rows) never reads the forget rows, so it keeps the guarantee."),
    ),
    Entry(
        name="langevin", label="Langevin", family="literature", function="nbutils.methods.finetune:langevin",
        limits={"langevin_sigmas": "noise", "langevin_steps": "steps"},
        sweep=Sweep("sigma", "langevin_sigmas", (("steps", "langevin_steps"),)),
        reads=("langevin_sigmas", "langevin_steps", "langevin_clip_quantile", "langevin_l2", *FINETUNING),
        adds_noise=True, source="Chien et al., 2024",
        description=("SGD on the retain rows, each row's gradient plus the authors' L2 term λ·n·θ (`langevin_l2`) "
                     "clipped at a quantile of the rows' gradient norms (`langevin_clip_quantile`), noise at every "
                     "step; σ = 0 is its control"),
        heading="Langevin unlearning",
        notes=("Noisy fine-tuning after Chien, Wang and Li (NeurIPS 2024): from the trained weights, T SGD steps on "
               "the retain rows with N(0, σ²) noise added to every parameter at every step. As in the authors' code "
               "(Graph-COM/Langevin_unlearning), each row's gradient carries an L2 term, g + λ·n·θ with λ = "
               "`langevin_l2` (their 1e-6) and n the retain rows, and is clipped as a whole. The clip is no longer a "
               "fixed number (`langevin_clip`, now removed): a fixed bound of 1.0 clipped 22 % of the rows and by "
               "itself made the models overconfident (challenge score 0.003 at σ = 0, against 0.084 unclipped). It is"
               " the `langevin_clip_quantile` quantile (0.99: 1 % of rows clipped at the start) of the retain rows' "
               "per-example gradient norms at the trained weights, for each model, with dropout on as the steps see "
               "it. σ = 0 is in the sweep as the method's own control, clipping and the L2 term alone on the same "
               "batches, so the table shows what the noise adds over them. Their certificate assumes a convex loss "
               "and a Lipschitz bound that holds for every row; this network's loss is not convex and a quantile clip"
               " is set from the data, so no guarantee is claimed here."),
    ),
    Entry(
        name="dampening", label="Selective Synaptic Dampening", family="literature",
        limits={"dampening_lambdas": "noise"},
        function="nbutils.methods.dampening:dampening",
        sweep=Sweep("alpha", "dampening_alphas", (("lambda", "dampening_lambdas"),)),
        reads=("dampening_alphas", "dampening_lambdas"),
        source="Foster et al., 2024",
        description="shrink parameters far more important to the forget rows than to training",
        heading="Selective Synaptic Dampening",
        notes=("Foster, Schoepf and Brintrup (AAAI 2024): the deterministic contrast to noise. Importances are "
               "diagonal empirical Fishers (mean squared per-example gradients) on the forget rows (F) and on all "
               "training rows (D). Parameters with F > α·D are multiplied by min(λD/F, 1); the rest are untouched."),
    ),
    Entry(
        name="neggrad", label="NegGrad+", family="baseline", function="nbutils.methods.baselines:neggrad",
        limits={"neggrad_alphas": "share", "neggrad_class_alphas": "share", "neggrad_epochs": "epochs",
                "neggrad_lr_factors": "rate", "neggrad_lr": "rate"},
        sweep=Sweep("alpha", "neggrad_alphas", (("epochs", "neggrad_epochs"), ("lr×", "neggrad_lr_factors"))),
        by_request={"class": Sweep("alpha", "neggrad_class_alphas",
                                   (("epochs", "neggrad_epochs"), ("lr×", "neggrad_lr_factors")))},
        reads=("neggrad_alphas", "neggrad_class_alphas", "neggrad_epochs", "neggrad_lr_factors", "neggrad_lr",
               "finetune_batch_size"), repairs=True,
        source="Kurmanji et al., 2023", description="SGD on α·CE(retain) − (1 − α)·CE(forget), paired batches",
        heading="NegGrad+",
        notes=("Kurmanji et al. (NeurIPS 2023), as DeepUnlearn ports it: SGD on α·CE(retain batch) − (1 − "
               "α)·CE(forget batch), retain and forget batches paired, BatchNorm in evaluation mode; swept over α "
               "(stronger for a class: request), the epochs and the learning rate around DeepUnlearn's, rescaled "
               "to this batch size."),
    ),
    Entry(
        name="scrub", label="SCRUB", family="baseline", function="nbutils.methods.baselines:scrub",
        limits={"scrub_lrs": "rate", "scrub_class_lrs": "rate"},
        sweep=Sweep("lr", "scrub_lrs"), by_request={"class": Sweep("lr", "scrub_class_lrs")},
        reads=("scrub_lrs", "scrub_class_lrs", "forget", "finetune_batch_size"),
        repairs=True, source="Kurmanji et al., 2023",
        description="max-steps away from the original (KL) on forget rows, min-steps γ·CE + α·KL on retain rows",
        heading="SCRUB",
        notes=("Kurmanji et al. (NeurIPS 2023): the original is the teacher; in the first epochs, max-steps on the "
               "forget rows push the student's outputs away from the teacher's (KL), and every epoch min-steps on the"
               " retain rows keep it close (γ·CE + α·KL). The authors' class-forgetting setting for a class: "
               "request and their selective one otherwise; their learning rate, rescaled to this batch size, and a "
               "step either side."),
    ),
    Entry(
        name="salun", label="SalUn", family="baseline", function="nbutils.methods.baselines:salun",
        limits={"salun_mask_fractions": "share", "salun_lr_factors": "rate", "salun_epochs": "count",
                "salun_lr": "rate"},
        sweep=Sweep("mask", "salun_mask_fractions", (("lr×", "salun_lr_factors"),)),
        reads=("salun_mask_fractions", "salun_lr_factors", "salun_epochs", "salun_branch", "salun_lr",
               "finetune_batch_size"), repairs=True,
        source="Fan et al., 2024",
        description=("random labels on forget rows plus retain CE, only the weights with the largest forget gradients"
                     " move"),
        heading="SalUn",
        notes=("Fan et al. (ICLR 2024): random labels on the forget rows plus CE on the retain rows, updating only "
               "the share of weights with the largest forget-set gradients (the mask). At 1.0 it is plain random "
               "labelling. The authors' CIFAR-10 run: a forget pass then a retain pass each epoch, 10 epochs, their "
               "learning rate rescaled to this batch size and a step either side."),
    ),
    Entry(
        name="cfk", label="CF-k", family="baseline", function="nbutils.methods.baselines:cfk",
        limits={"last_layers_epochs": "count", "last_layers_lr": "rate"},
        sweep=Sweep("k", "cfk_layers"), reads=("cfk_layers", "last_layers_epochs", *LAST_LAYERS), repairs=True,
        source="Goel et al., 2022",
        description="train only the last k Linear layers on the retain rows", heading="CF-k",
        notes=("Goel et al. (2022), as DeepUnlearn ports it: fine-tune only the last k Linear layers on the retain "
               "rows, 10 epochs of SGD with a step decay and a pull toward the trained weights, BatchNorm in "
               "evaluation mode; every other weight stays as trained."),
    ),
    Entry(
        name="euk", label="EU-k", family="baseline", function="nbutils.methods.baselines:euk",
        limits={"last_layers_lr": "rate"},
        sweep=Sweep("k", "euk_layers"), reads=("euk_layers", "epochs", *LAST_LAYERS), repairs=True,
        source="Goel et al., 2022",
        description="re-initialise the last k Linear layers, then train them alone on the retain rows",
        heading="EU-k",
        notes=("Goel et al. (2022): re-initialise the last k Linear layers, then train them alone on the retain rows"
               " for the training budget (epochs), as CF-k's steps."),
    ),
    Entry(
        name="l1sparse", label="l1-sparse fine-tuning", family="baseline",
        limits={"l1_weights": "rate", "l1_epochs": "count", "l1_lr": "rate"},
        function="nbutils.methods.baselines:l1_sparse", sweep=Sweep("weight", "l1_weights"),
        reads=("l1_weights", "l1_epochs", "l1_lr", "finetune_batch_size"), repairs=True, source="Jia et al., 2023",
        description="retain CE plus an ℓ1 penalty decaying linearly to 0", heading="l1-sparse fine-tuning",
        notes=('Jia et al. (NeurIPS 2023, "Model sparsity can simplify machine unlearning"): CE on the retain rows '
               "plus an ℓ1 penalty on the weights whose weight decays linearly to 0 over the epochs."),
    ),
    Entry(
        name="badteacher", label="Bad Teacher", family="baseline", function="nbutils.methods.baselines:bad_teacher",
        limits={"badteacher_epochs": "epochs", "badteacher_lrs": "rate", "badteacher_class_epochs": "epochs",
                "badteacher_class_lrs": "rate", "badteacher_retain_share": "share"},
        sweep=Sweep("epochs", "badteacher_epochs", (("lr", "badteacher_lrs"),)),
        by_request={"class": Sweep("epochs", "badteacher_class_epochs", (("lr", "badteacher_class_lrs"),))},
        reads=("badteacher_epochs", "badteacher_lrs", "badteacher_class_epochs", "badteacher_class_lrs",
               "badteacher_retain_share", "finetune_batch_size"), repairs=True,
        source="Chundawat et al., 2023",
        description="distil a random model on forget rows and the original on retain rows", heading="Bad Teacher",
        notes=("Chundawat et al. (AAAI 2023): the student distils a randomly initialised teacher on the forget rows "
               "and the original on (a share of) the retain rows."),
    ),
    Entry(
        name="fcs", label="FCS (NeurIPS 2023, 1st)", family="competition", function="nbutils.methods.competition:fcs",
        limits={"fcs_epochs": "epochs", "fcs_uniform_weights": "rate"},
        sweep=Sweep("epochs", "fcs_epochs", (("uniform", "fcs_uniform_weights"),)),
        reads=("fcs_epochs", "fcs_uniform_weights", "finetune_batch_size"), repairs=True,
        source="NeurIPS 2023 competition",
        description="uniform outputs on the forget rows, then contrastive rounds", heading="FCS (competition, 1st)",
        notes=("The NeurIPS 2023 unlearning competition's winner (Triantafillou et al., 2024; DeepUnlearn's port): "
               "the forget rows' outputs pulled to uniform (a weight this port sweeps, 0 to the entry's 1), then "
               "rounds of a contrastive forget-against-retain pass and a retain epoch."),
    ),
    Entry(
        name="msg", label="MSG (NeurIPS 2023, 2nd)", family="competition", function="nbutils.methods.competition:msg",
        limits={"msg_rates": "share", "msg_epochs": "count", "msg_lr": "rate"},
        sweep=Sweep("rate", "msg_rates"), reads=("msg_rates", "msg_epochs", "msg_lr", "finetune_batch_size"),
        repairs=True, source="NeurIPS 2023 competition",
        description="re-initialise low-gradient weights, then fine-tune", heading="MSG (competition, 2nd)",
        notes=("Second place: re-initialise the share of hidden-layer weights with the smallest |∇(CE retain − CE "
               "forget)|, damp the other weights' gradients, then fine-tune on the retain rows."),
    ),
    Entry(
        name="cfw", label="CFW (NeurIPS 2023, 3rd)", family="competition", function="nbutils.methods.competition:cfw",
        limits={"cfw_sigmas": "noise", "cfw_epochs": "count", "cfw_lr": "rate"},
        sweep=Sweep("sigma", "cfw_sigmas"), reads=("cfw_sigmas", "cfw_epochs", "cfw_lr", "finetune_batch_size"),
        adds_noise=True, repairs=True, source="NeurIPS 2023 competition",
        description="noise on the first layer, then class-balanced fine-tuning", heading="CFW (competition, 3rd)",
        notes=("Third place, a noise method: Gaussian noise on the first layer's weights, fine-tuning with "
               "class-balanced CE, and a small second draw before the last epoch."),
    ),
]}

ADDS_NOISE = frozenset(name for name, entry in CATALOG.items() if entry.adds_noise)
REPAIRS = [name for name, entry in CATALOG.items() if entry.repairs]
REPAIR_BASES = [name for name, entry in CATALOG.items() if entry.repair_base]
LIMITED = {parameter: kind for entry in CATALOG.values() for parameter, kind in entry.limits.items()}


def sweep_parameters(name, forget="random"):
    """The parameters that list a method's settings for a forget request."""
    return CATALOG[name].sweep_for(forget).parameters


def label(name):
    """What the report calls a method or a reference model."""
    return REFERENCES.get(name) or CATALOG[name].label


def heading(number, name):
    """The heading of a method's section in the report, numbered from 1 in catalog order."""
    return f"Method {number}: {CATALOG[name].heading}"


def anchor(number, name):
    """The link to a method's section: the id nbconvert and JupyterLab give its heading."""
    return "#" + heading(number, name).replace(" ", "-")


def section(number, name):
    """A method's section of the report, in Markdown: its heading, then its notes."""
    return f"### {heading(number, name)}\n\n{CATALOG[name].notes}"


def contents():
    """Section 5's contents, in Markdown: a link to each method's section."""
    return "Methods: " + " ·\n".join(f"[{entry.label}]({anchor(number, name)})"
                                      for number, (name, entry) in enumerate(CATALOG.items(), 1))


def methods_table():
    """docs/methods.md's table, one row per method in report order."""
    rows = ["| method | source | what it does | swept | parameter file |", "|---|---|---|---|---|"]
    for entry in CATALOG.values():
        swept = "; ".join(f"{kind}: " * (kind != "") + " × ".join(
            f"{knob} (`{parameter}`)" for knob, parameter in zip(sweep.knobs, sweep.parameters))
            for kind, sweep in [("", entry.sweep), *entry.by_request.items()])
        rows.append(f"| {entry.label} | {entry.source or '–'} | {entry.description} | {swept} | "
                    f"`{entry.name}.yaml` |")
    return "\n".join(rows) + "\n"
