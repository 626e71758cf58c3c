"""The field's standard baselines, which use the forget rows actively, all on :mod:`nbutils.methods.steps`.

NegGrad+ and SCRUB (Kurmanji et al., NeurIPS 2023), SalUn (Fan et al., ICLR 2024), CF-k and EU-k (Goel et al.,
2022), l1-sparse fine-tuning (Jia et al., NeurIPS 2023) and Bad Teacher (Chundawat et al., AAAI 2023), written
from the papers and their public code (DeepUnlearn's ports, the authors' repositories); each docstring names
the defaults taken and where this port departs (docs/methods.md has them in one table). Every method here
uses mini-batches of ``finetune_batch_size`` rows, each model its own, with the authors' learning rate rescaled
to that batch, BatchNorm in the mode their code trains in and dropout on (:mod:`nbutils.methods.steps`); every
setup (teachers' outputs, masks, re-initialisation) is part of the call, so the report's cost is the method's
real cost.
"""

import copy
from dataclasses import dataclass

import torch

from nbutils.catalog import request_kind
from nbutils.engine import batches, in_blocks, keep_mask, permutations, steps_per_epoch
from nbutils.methods.steps import (
    adam,
    ce_grad,
    distill_kl,
    fresh_model,
    layer_mask,
    loss_grad,
    mean_gradient,
    network,
    rescaled_lr,
    retain_statistics,
    sgd,
    step_decay,
    teacher_logits,
)
from nbutils.runtime import streams, substream


def fine_tune(net, optimizer, X, y, *, epochs, batch_size, generator, first=0, scale=1.0, class_weights=None,
              before_step=None, lr_at=None, batch_statistics=False, mean_weight=False):
    """``epochs`` passes of cross-entropy steps on (X, y), every model on its own batches and dropout masks.

    ``scale`` multiplies the loss; ``class_weights`` (C,) weigh each row by its label's weight, or with
    ``mean_weight`` the batch's loss by its rows' mean weight; ``before_step(epoch)`` may add to
    ``net.flat_grads`` before each step; ``lr_at(epoch)`` schedules the learning rate; ``batch_statistics``:
    BatchNorm in training mode. Batches come from ``generator``: the same generator state gives the same batches.
    """
    k, n = net.model.n_models, len(X)
    per_epoch = steps_per_epoch(n, batch_size)
    for epoch in range(epochs):
        lr = lr_at(epoch) if lr_at else None
        for rows in batches(k, n, per_epoch, batch_size, generator):
            keep = keep_mask(net.model, batch_size, generator)
            yb = y[rows]
            weights = class_weights[yb] if class_weights is not None else None
            if mean_weight and weights is not None:
                weights = weights.mean(dim=1, keepdim=True).expand_as(weights)
            net.gradient(X[rows], lambda z: ce_grad(z, yb, scale, weights), keep, first, batch_statistics)
            if before_step:
                before_step(epoch)
            optimizer.step(lr)


def _rows_of(table, rows):
    """table (K, n, C) at per-model rows (K, B): (K, B, C)."""
    return table[torch.arange(table.shape[0], device=rows.device).unsqueeze(1), rows]


NEGGRAD_BATCH = 256  # DeepUnlearn's batch, at which its learning rate 0.01 (``neggrad_lr``) was set


@in_blocks
def neggrad(model, setting, generator, splits, params):
    """NegGrad+ (Kurmanji et al., NeurIPS 2023), as DeepUnlearn ports it (``neggradplus.py``): minimise
    alpha * CE(retain batch) - (1 - alpha) * CE(forget batch) on paired batches, forget batches cycling.

    ``setting`` is (alpha, epochs, learning-rate factor), an epoch one pass over the retain rows. SGD with
    momentum 0.9, no weight decay, at ``neggrad_lr`` (DeepUnlearn's 0.01 at batch 256) times the factor, rescaled
    linearly to ``finetune_batch_size``; BatchNorm in evaluation mode, as the port runs it. DeepUnlearn's
    defaults: alpha 0.95, 10 epochs.
    """
    alpha, epochs, factor = setting
    g_retain, g_forget = streams(generator, "retain", "forget")
    k, b = model.n_models, params["finetune_batch_size"]
    net = network(model)
    optimizer = sgd(net, rescaled_lr(params["neggrad_lr"] * factor, NEGGRAD_BATCH, b))
    Xr, yr, Xf, yf = splits.X_retain, splits.y_retain, splits.X_forget, splits.y_forget
    per_epoch = steps_per_epoch(len(Xr), b)
    for _ in range(int(epochs)):
        pairs = zip(batches(k, len(Xr), per_epoch, b, g_retain), batches(k, len(Xf), per_epoch, b, g_forget))
        for r, f in pairs:
            keep_r, keep_f = keep_mask(model, b, g_retain), keep_mask(model, b, g_forget)
            net.gradient(Xr[r], lambda z: ce_grad(z, yr[r], alpha), keep_r)
            if alpha < 1:
                net.gradient(Xf[f], lambda z: ce_grad(z, yf[f], -(1 - alpha)), keep_f)
            optimizer.step()
    return net.result()


@dataclass(frozen=True)
class ScrubRegime:
    """One of SCRUB's published settings (meghdadk/SCRUB@98ffb11): ``max_epochs`` of max-steps, ``epochs`` in
    all, the forget and retain batches (``forget_batch`` times ours per retain batch), the retain batch the
    learning rate was set at, the loss weights, the temperature and the step decay's epochs."""

    max_epochs: int
    epochs: int
    forget_batch: float
    authors_batch: int
    alpha: float
    gamma: float
    temperature: float
    decay_after: tuple


SCRUB_REGIMES = {
    # selective forgetting (MIA_experiments.ipynb; DeepUnlearn's scrubv2): forget 16, retain 32 rows a step
    "selective": ScrubRegime(3, 5, 0.5, 32, 0.5, 1.0, 4.0, (3, 5, 9)),
    # class forgetting (large_scale_unlearning.ipynb): forget 512, retain 256 rows a step
    "class": ScrubRegime(2, 3, 2.0, 256, 0.001, 0.99, 4.0, (3, 5, 9)),
}
SCRUB_WEIGHT_DECAY = 5e-4  # both settings: SGD, momentum 0.9, weight decay 5e-4


def scrub_regime(params):
    """The authors' class-forgetting setting for a ``class:`` request, their selective setting for any other."""
    return SCRUB_REGIMES["class" if request_kind(params["forget"]) == "class" else "selective"]


@in_blocks
def scrub(model, lr, generator, splits, params):
    """SCRUB (Kurmanji et al., NeurIPS 2023): the student starts as the original, which is its teacher.

    Each epoch: in the first ``max_epochs``, one pass of max-steps over the forget rows that maximise
    KL(teacher || student) at the regime's temperature; then one pass of min-steps over the retain rows on
    gamma * CE + alpha * KL. The regime is the authors' class-forgetting setting for a ``class:`` request and
    their selective setting otherwise (:data:`SCRUB_REGIMES`); ``lr`` is the learning rate at the authors'
    retain batch (theirs 5e-4), rescaled linearly to ``finetune_batch_size``, with their step decay. The
    student's BatchNorm is in training mode in both passes, as in their code; the teacher's outputs on every
    row are computed once, in evaluation mode, as part of the method.
    """
    regime = scrub_regime(params)
    g_retain, g_forget = streams(generator, "retain", "forget")
    alpha, gamma, t = regime.alpha, regime.gamma, regime.temperature
    Xr, yr, Xf = splits.X_retain, splits.y_retain, splits.X_forget
    teacher_r, teacher_f = teacher_logits(model, Xr), teacher_logits(model, Xf)
    k, b = model.n_models, params["finetune_batch_size"]
    b_forget = max(2, round(b * regime.forget_batch))  # BatchNorm trains on two rows or more
    net = network(model)
    lr_at = step_decay(rescaled_lr(lr, regime.authors_batch, b), regime.decay_after, counted_from=1)
    optimizer = sgd(net, lr_at(0), weight_decay=SCRUB_WEIGHT_DECAY)
    for epoch in range(regime.epochs):
        if epoch < regime.max_epochs:
            for f in batches(k, len(Xf), steps_per_epoch(len(Xf), b_forget), b_forget, g_forget):
                keep = keep_mask(model, b_forget, g_forget)
                target = _rows_of(teacher_f, f)
                net.gradient(Xf[f], lambda z: -loss_grad(distill_kl, z, target, t), keep, batch_statistics=True)
                optimizer.step(lr_at(epoch))
        for r in batches(k, len(Xr), steps_per_epoch(len(Xr), b), b, g_retain):
            keep = keep_mask(model, b, g_retain)
            target = _rows_of(teacher_r, r)

            def grad(z):
                d = ce_grad(z, yr[r], gamma)
                return d.add_(loss_grad(distill_kl, z, target, t), alpha=alpha) if alpha else d

            net.gradient(Xr[r], grad, keep, batch_statistics=True)
            optimizer.step(lr_at(epoch))
    return net.result()


def top_fraction(scores, fraction):
    """1.0 where a score is among the ``fraction`` largest of its model's row (K, P), else 0.0."""
    count = int(scores.shape[1] * fraction)
    mask = torch.zeros_like(scores)
    if count:
        mask.scatter_(1, scores.topk(count, dim=1).indices, 1.0)
    return mask


def saliency_mask(model, splits, fraction):
    """SalUn's weight saliency: 1 on the ``fraction`` of each model's parameters with the largest
    |gradient of the forget rows' CE| (evaluation mode; the sign of the loss does not matter for |.|)."""
    net = network(model)
    mean_gradient(net, splits.X_forget, splits.y_forget)
    return top_fraction(net.flat_grads.abs(), fraction)


SALUN_WEIGHT_DECAY, SALUN_BATCH = 5e-4, 256  # Unlearn-Saliency's random-label run: SGD, momentum 0.9, batch 256


def random_labelling(model, factor, generator, splits, params, mask=None):
    """``salun_epochs`` epochs of random labelling, every update multiplied by ``mask`` (None: all 1), at
    ``salun_lr`` times ``factor`` rescaled linearly to ``finetune_batch_size``, BatchNorm in training mode.

    ``salun_branch`` "sequential" (the authors' CIFAR-10 branch): each epoch a pass over the forget rows, each
    batch with labels drawn uniformly at random, then a pass over the retain rows; "mixed" (their CIFAR-100
    branch): one pass over forget and retain rows together, the forget rows' random labels drawn each epoch.
    """
    g_rows, g_labels, g_forget = streams(generator, "retain", "labels", "forget")
    Xf, Xr, yr = splits.X_forget, splits.X_retain, splits.y_retain
    n_classes = model.linears[-1].weight.shape[1]
    k, b = model.n_models, params["finetune_batch_size"]
    net = network(model)
    optimizer = sgd(net, rescaled_lr(params["salun_lr"] * factor, SALUN_BATCH, b), weight_decay=SALUN_WEIGHT_DECAY,
                    mask=mask)

    def step(X, rows, labels, g):
        net.gradient(X[rows], lambda z: ce_grad(z, labels), keep_mask(model, b, g), batch_statistics=True)
        optimizer.step()

    for _ in range(params["salun_epochs"]):
        if params["salun_branch"] == "sequential":
            for rows in batches(k, len(Xf), steps_per_epoch(len(Xf), b), b, g_forget):
                step(Xf, rows, torch.randint(0, n_classes, rows.shape, generator=g_labels, device=Xf.device), g_forget)
            fine_tune(net, optimizer, Xr, yr, epochs=1, batch_size=b, generator=g_rows, batch_statistics=True)
            continue
        X = torch.cat([Xf, Xr])
        random = torch.randint(0, n_classes, (k, len(Xf)), generator=g_labels, device=g_labels.device)
        labels = torch.cat([random, yr.expand(k, -1)], dim=1)
        for rows in batches(k, len(X), steps_per_epoch(len(X), b), b, g_rows):
            step(X, rows, labels.gather(1, rows), g_rows)
    return net.result()


@in_blocks
def salun(model, setting, generator, splits, params):
    """SalUn (Fan et al., ICLR 2024): random labelling with updates restricted to the salient weights.

    ``setting`` is (mask fraction, learning-rate factor). The mask keeps the fraction of each model's parameters
    with the largest forget-set gradients, over all of them as the authors' ``generate_mask.py`` does (their
    default 0.5), and multiplies the loss's gradient, as their code does before the optimiser's weight decay; at
    1.0 this is plain random labelling, at 0 only weight decay (and BatchNorm's statistics) move. The authors'
    CIFAR-10 run: lr 0.013 at batch 256 (``salun_lr``), 10 epochs, the sequential branch (:func:`random_labelling`).
    """
    fraction, factor = setting
    return random_labelling(model, factor, generator, splits, params, mask=saliency_mask(model, splits, fraction))


LAST_LAYERS_BATCH, LAST_LAYERS_PULL = 256, 0.1  # DeepUnlearn's batch for lr 0.01; its L2 pull (sgda_weight_decay)
LAST_LAYERS_DECAY = (0.5, 0.8, 0.9)  # step decay after these shares of the epochs (DeepUnlearn's int(share * E))


def _norm_names(model, first):
    return [i for i in range(len(model.norms)) if i >= first]


def _last_layers(model, k, generator, splits, params, reinitialise):
    """CF-k and EU-k as DeepUnlearn ports them (``catastrophic_forgetting_k.py``, ``exact_unlearning_k.py``):
    the last k layers alone, SGD without momentum or weight decay at ``last_layers_lr`` (0.01 at batch 256,
    rescaled linearly), a pull (0.1 / 2) * |theta - theta_0|^2 toward the weights they start from, the step
    decay after half, 80 % and 90 % of the epochs, BatchNorm in evaluation mode."""
    g_retain, g_init, g_stats = streams(generator, "retain", "init", "statistics")
    first = len(model.linears) - int(k)
    out = copy.deepcopy(model)
    if reinitialise:
        fresh = fresh_model(model, g_init)
        with torch.no_grad():
            for i in range(first, len(model.linears)):
                out.linears[i].load_state_dict(fresh.linears[i].state_dict())
            for i in _norm_names(model, first):
                out.norms[i].load_state_dict(fresh.norms[i].state_dict())
        _recompute_from(out, splits.X_retain, g_stats, first)
    net = network(out)
    start = net.flat_params.clone()
    b = params["finetune_batch_size"]
    lr = rescaled_lr(params["last_layers_lr"], LAST_LAYERS_BATCH, b)
    epochs = params["epochs"] if reinitialise else params["last_layers_epochs"]
    optimizer = sgd(net, lr, mask=layer_mask(net, first), momentum=0.0)
    decay = step_decay(lr, [int(share * epochs) for share in LAST_LAYERS_DECAY], counted_from=0)
    fine_tune(net, optimizer, splits.X_retain, splits.y_retain, epochs=epochs, batch_size=b, generator=g_retain,
              first=first, lr_at=decay,
              before_step=lambda _: net.flat_grads.add_(net.flat_params - start, alpha=LAST_LAYERS_PULL))
    out = net.result()
    if reinitialise:
        _recompute_from(out, splits.X_retain, g_stats, first)
    return out


def _recompute_from(model, X_retain, generator, first):
    """Recompute BatchNorm statistics from the retain rows for the BatchNorms after Linear layers >= first."""
    recomputed = retain_statistics(copy.deepcopy(model), X_retain, generator)
    for i in _norm_names(model, first):
        model.norms[i].running_mean.copy_(recomputed.norms[i].running_mean)
        model.norms[i].running_var.copy_(recomputed.norms[i].running_var)


@in_blocks
def cfk(model, k, generator, splits, params):
    """CF-k (Goel et al., 2022): fine-tune only the last k Linear layers (and the BatchNorms after them) on the
    retain rows for ``last_layers_epochs`` epochs (DeepUnlearn's 10), as :func:`_last_layers` says; every other
    parameter and buffer stays bit-identical."""
    return _last_layers(model, k, generator, splits, params, reinitialise=False)


@in_blocks
def euk(model, k, generator, splits, params):
    """EU-k (Goel et al., 2022): re-initialise the last k Linear layers (and the BatchNorms after them) as a
    fresh model would, then train them alone on the retain rows for the training budget (``epochs``, as the
    SCRUB notebooks run it), as :func:`_last_layers` says. The re-initialised BatchNorms' statistics are
    recomputed from the retain rows, before training and after it."""
    return _last_layers(model, k, generator, splits, params, reinitialise=True)


L1_WEIGHT_DECAY, L1_BATCH = 5e-4, 256  # Unlearn-Sparse's fine-tuning: SGD, momentum 0.9, batch 256


@in_blocks
def l1_sparse(model, weight, generator, splits, params):
    """l1-sparse fine-tuning (Jia et al., NeurIPS 2023): CE on the retain rows plus weight_t * ||theta||_1, the
    weight decaying linearly to 0 over the epochs (weight * (1 - epoch / epochs), as their code does).
    ``l1_epochs`` epochs (their 10) at ``l1_lr`` (their 0.01 at batch 256, rescaled linearly), BatchNorm in
    training mode."""
    (g_retain,) = streams(generator, "retain")
    epochs, b = params["l1_epochs"], params["finetune_batch_size"]
    net = network(model)
    optimizer = sgd(net, rescaled_lr(params["l1_lr"], L1_BATCH, b), weight_decay=L1_WEIGHT_DECAY)

    def l1_term(epoch):
        if weight:
            net.flat_grads.add_(net.flat_params.sign(), alpha=weight * (1 - epoch / epochs))

    fine_tune(net, optimizer, splits.X_retain, splits.y_retain, epochs=epochs, batch_size=b, generator=g_retain,
              before_step=l1_term, batch_statistics=True)
    return net.result()


BAD_TEACHER_BATCH = 256  # the authors' notebook


def bad_teacher_loss(logits, targets):
    """KL(teacher || student) at temperature 1, per model the batch mean: 0 when the student's logits are the
    teachers' (the competent teacher's on retain rows, the incompetent one's on forget rows)."""
    return distill_kl(logits, targets, 1.0)


@in_blocks
def bad_teacher(model, setting, generator, splits, params):
    """Bad Teacher (Chundawat et al., AAAI 2023): distil from the original on retain rows and from a randomly
    initialised model on forget rows, on batches mixing both.

    ``setting`` is (epochs, learning rate at the authors' batch of 256, rescaled to ``finetune_batch_size`` by
    the square root of the ratio, as for Adam). As the authors' code: Adam (their lr 1e-4), temperature 1, 1
    epoch, over the forget rows and a random ``badteacher_retain_share`` of the retain rows (their 30 %), per
    model, the student's BatchNorm in training mode.
    """
    epochs, lr = setting
    g_rows, g_init, g_subset = streams(generator, "retain", "init", "subset")
    Xr, Xf = splits.X_retain, splits.X_forget
    incompetent = fresh_model(model, g_init)
    targets = torch.cat([teacher_logits(incompetent, Xf), teacher_logits(model, Xr)], dim=1)  # (K, n, C)
    X = torch.cat([Xf, Xr])
    k, b = model.n_models, params["finetune_batch_size"]
    n_retain = max(1, round(len(Xr) * params["badteacher_retain_share"]))
    subset = permutations(k, len(Xr), g_subset)[:, :n_retain]
    pool = torch.cat([torch.arange(len(Xf), device=Xr.device).expand(k, -1), subset + len(Xf)], dim=1)  # (K, m)
    net = network(model)
    optimizer = adam(net, rescaled_lr(lr, BAD_TEACHER_BATCH, b, "adam"))
    for _ in range(int(epochs)):
        for local in batches(k, pool.shape[1], steps_per_epoch(pool.shape[1], b), b, g_rows):
            rows = pool.gather(1, local)
            keep = keep_mask(model, b, g_rows)
            target = _rows_of(targets, rows)
            net.gradient(X[rows], lambda z: loss_grad(bad_teacher_loss, z, target), keep, batch_statistics=True)
            optimizer.step()
    return net.result()


def repair(model, value, generator, splits, params):
    """Noise, then repair: ``repair_base`` at ``repair_base_value``, then the repair ``repair_with`` at ``value``.

    ``repair_with`` is ``finetune`` (``finetune_steps`` plain-SGD steps on the retain rows,
    :func:`nbutils.methods.finetune.repair`) or any method that unlearns from a given model (NegGrad+, SCRUB,
    ...), at each setting of its own sweep. Its control is that method alone, on the same settings: the same
    repair without the noise. The noise comes from a stream of its own, so the repair draws from ``generator``
    what its control draws: at equal settings the two differ only by the noise (common random numbers).
    """
    from nbutils.methods import METHODS  # the registry imports this module
    from nbutils.methods.finetune import repair as finetune_repair

    repair_with = params.get("repair_with", "finetune")
    if repair_with == "finetune":
        return finetune_repair(model, value, generator, splits, params)
    noisy = METHODS[params["repair_base"]].apply(model, params["repair_base_value"], substream(generator, "noise"),
                                                 splits, params)
    return METHODS[repair_with].apply(noisy, value, generator, splits, params)
