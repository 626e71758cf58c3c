"""The field's standard baselines, which use the forget rows actively, all on :mod:`nbutils.methods.steps`.

NegGrad+ and SCRUB (Kurmanji et al., NeurIPS 2023), SalUn (Fan et al., ICLR 2024), CF-k and EU-k (Goel et al.,
2022), l1-sparse fine-tuning (Jia et al., NeurIPS 2023) and Bad Teacher (Chundawat et al., AAAI 2023), written
from the papers and their public code (DeepUnlearn's ports, the authors' repositories); each docstring names
the defaults taken and where this port departs. Every method here uses mini-batches of
``finetune_batch_size`` rows, each model its own, BatchNorm on its running statistics and dropout on
(:mod:`nbutils.methods.steps`); every setup (teachers' outputs, masks, re-initialisation) is part of the call,
so the report's cost is the method's real cost.
"""

import copy

import torch

from nbutils.engine import batches, in_blocks, keep_mask, steps_per_epoch
from nbutils.methods.steps import (
    adam,
    ce_grad,
    distill_kl,
    fresh_model,
    layer_mask,
    loss_grad,
    network,
    retain_statistics,
    sgd,
    teacher_logits,
)
from nbutils.runtime import streams, substream

GRADIENT_ROWS = 8192  # rows per forward pass when a method takes a gradient over a whole set


def fine_tune(net, optimizer, X, y, *, epochs, batch_size, generator, first=0, scale=1.0, class_weights=None,
              before_step=None, lr_at=None):
    """``epochs`` passes of cross-entropy steps on (X, y), every model on its own batches and dropout masks.

    ``scale`` multiplies the loss; ``class_weights`` (C,) weigh each row by its label's weight;
    ``before_step(epoch)`` may add to ``net.flat_grads`` before each step; ``lr_at(epoch)`` schedules the
    learning rate. Batches come from ``generator``: the same generator state gives the same batches.
    """
    k, n = net.model.n_models, len(X)
    per_epoch = steps_per_epoch(n, batch_size)
    for epoch in range(epochs):
        lr = lr_at(epoch) if lr_at else None
        for rows in batches(k, n, per_epoch, batch_size, generator):
            keep = keep_mask(net.model, batch_size, generator)
            yb = y[rows]
            weights = class_weights[yb] if class_weights is not None else None
            net.gradient(X[rows], lambda z: ce_grad(z, yb, scale, weights), keep, first)
            if before_step:
                before_step(epoch)
            optimizer.step(lr)


def _rows_of(table, rows):
    """table (K, n, C) at per-model rows (K, B): (K, B, C)."""
    return table[torch.arange(table.shape[0], device=rows.device).unsqueeze(1), rows]


@in_blocks
def neggrad(model, setting, generator, splits, params):
    """NegGrad+ (Kurmanji et al., NeurIPS 2023; as tuned in DeepUnlearn): minimise
    alpha * CE(retain batch) - (1 - alpha) * CE(forget batch) on paired batches, forget batches cycling.

    ``setting`` is (alpha, epochs), an epoch one pass over the retain rows. SGD with momentum 0.9, no weight
    decay, learning rate ``neggrad_lr`` (DeepUnlearn's defaults: alpha 0.95, lr 0.01).
    """
    alpha, epochs = setting
    g_retain, g_forget = streams(generator, "retain", "forget")
    net = network(model)
    optimizer = sgd(net, params["neggrad_lr"])
    Xr, yr, Xf, yf = splits.X_retain, splits.y_retain, splits.X_forget, splits.y_forget
    k, b = model.n_models, params["finetune_batch_size"]
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


SCRUB_WEIGHT_DECAY = 5e-4  # the authors' small-scale setting (SGD, momentum 0.9)


@in_blocks
def scrub(model, setting, generator, splits, params):
    """SCRUB (Kurmanji et al., NeurIPS 2023): the student starts as the original, which is its teacher.

    Each of ``epochs`` epochs: while epoch <= ``scrub_max_epochs``, one pass of max-steps over the forget rows
    that maximise KL(teacher || student) at temperature ``scrub_temperature``; then one pass of min-steps over
    the retain rows on gamma * CE + alpha * KL; ``setting`` is (epochs, learning rate). The authors'
    small-scale defaults: alpha 0.001, gamma 0.99, T 4, 2 max-epochs, 3 epochs, SGD at 5e-4 with momentum 0.9
    and weight decay 5e-4. Their learning-rate
    decay starts after epoch 5 and their weight averaging is off (smoothing 0), so neither is here.
    The teacher's outputs on every row are computed once, in evaluation mode, as part of the method.
    """
    epochs, lr = setting
    g_retain, g_forget = streams(generator, "retain", "forget")
    alpha, gamma, t = params["scrub_alpha"], params["scrub_gamma"], params["scrub_temperature"]
    Xr, yr, Xf = splits.X_retain, splits.y_retain, splits.X_forget
    teacher_r, teacher_f = teacher_logits(model, Xr), teacher_logits(model, Xf)
    net = network(model)
    optimizer = sgd(net, lr, weight_decay=SCRUB_WEIGHT_DECAY)
    k, b = model.n_models, params["finetune_batch_size"]
    for epoch in range(int(epochs)):
        if epoch < params["scrub_max_epochs"]:
            for f in batches(k, len(Xf), steps_per_epoch(len(Xf), b), b, g_forget):
                keep = keep_mask(model, b, g_forget)
                target = _rows_of(teacher_f, f)
                net.gradient(Xf[f], lambda z: -loss_grad(distill_kl, z, target, t), keep)
                optimizer.step()
        for r in batches(k, len(Xr), steps_per_epoch(len(Xr), b), b, g_retain):
            keep = keep_mask(model, b, g_retain)
            target = _rows_of(teacher_r, r)

            def grad(z):
                d = ce_grad(z, yr[r], gamma)
                return d.add_(loss_grad(distill_kl, z, target, t), alpha=alpha) if alpha else d

            net.gradient(Xr[r], grad, keep)
            optimizer.step()
    return net.result()


def forget_gradient(net, X, y, scale=1.0):
    """Add to ``net.flat_grads`` scale * the gradient of each model's mean CE over all rows (X, y), no dropout."""
    k = net.model.n_models
    for start in range(0, len(X), GRADIENT_ROWS):
        Xc, yc = X[start:start + GRADIENT_ROWS], y[start:start + GRADIENT_ROWS]
        net.gradient(Xc.expand(k, *Xc.shape), lambda z: ce_grad(z, yc.expand(k, -1), scale * len(Xc) / len(X)))


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
    forget_gradient(net, splits.X_forget, splits.y_forget)
    return top_fraction(net.flat_grads.abs(), fraction)


SALUN_WEIGHT_DECAY = 5e-4  # Unlearn-Saliency's random-label run: SGD, momentum 0.9, weight decay 5e-4


def random_labelling(model, generator, splits, params, mask=None):
    """``salun_epochs`` passes over forget and retain rows together, the forget rows with labels drawn
    uniformly at random (again each epoch, per model), every update multiplied by ``mask`` (None: all 1)."""
    g_rows, g_labels = streams(generator, "retain", "labels")
    X = torch.cat([splits.X_forget, splits.X_retain])
    n_forget, n_classes = len(splits.X_forget), model.linears[-1].weight.shape[1]
    k, b = model.n_models, params["finetune_batch_size"]
    net = network(model)
    optimizer = sgd(net, params["salun_lr"], weight_decay=SALUN_WEIGHT_DECAY, mask=mask)
    for _ in range(params["salun_epochs"]):
        random = torch.randint(0, n_classes, (k, n_forget), generator=g_labels, device=g_labels.device)
        labels = torch.cat([random, splits.y_retain.expand(k, -1)], dim=1)
        for rows in batches(k, len(X), steps_per_epoch(len(X), b), b, g_rows):
            keep = keep_mask(model, b, g_rows)
            yb = labels.gather(1, rows)
            net.gradient(X[rows], lambda z: ce_grad(z, yb), keep)
            optimizer.step()
    return net.result()


@in_blocks
def salun(model, fraction, generator, splits, params):
    """SalUn (Fan et al., ICLR 2024): random labelling with updates restricted to the salient weights.

    The mask keeps the ``fraction`` of each model's parameters with the largest forget-set gradients (the
    authors' default 0.5); at 1.0 this is plain random labelling, at 0 nothing moves. Learning rate
    ``salun_lr`` (their CIFAR-10 0.013), ``salun_epochs`` epochs (their 10; fewer here, for cost).
    """
    return random_labelling(model, generator, splits, params, mask=saliency_mask(model, splits, fraction))


LAST_LAYERS_WEIGHT_DECAY = 5e-4


def _norm_names(model, first):
    return [i for i in range(len(model.norms)) if i >= first]


def _last_layers(model, k, generator, splits, params, reinitialise):
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
    optimizer = sgd(net, params["last_layers_lr"], weight_decay=LAST_LAYERS_WEIGHT_DECAY, mask=layer_mask(net, first))
    fine_tune(net, optimizer, splits.X_retain, splits.y_retain, epochs=params["last_layers_epochs"],
              batch_size=params["finetune_batch_size"], generator=g_retain, first=first)
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
    retain rows, ``last_layers_epochs`` epochs of SGD at ``last_layers_lr``; every other parameter and buffer
    stays bit-identical."""
    return _last_layers(model, k, generator, splits, params, reinitialise=False)


@in_blocks
def euk(model, k, generator, splits, params):
    """EU-k (Goel et al., 2022): re-initialise the last k Linear layers (and the BatchNorms after them) as a
    fresh model would, then train them alone on the retain rows as CF-k does. The re-initialised BatchNorms'
    statistics are recomputed from the retain rows, before training and after it."""
    return _last_layers(model, k, generator, splits, params, reinitialise=True)


L1_WEIGHT_DECAY = 5e-4  # Unlearn-Sparse's fine-tuning: SGD, momentum 0.9, weight decay 5e-4


@in_blocks
def l1_sparse(model, weight, generator, splits, params):
    """l1-sparse fine-tuning (Jia et al., NeurIPS 2023): CE on the retain rows plus weight_t * ||theta||_1, the
    weight decaying linearly to 0 over the epochs (weight * (1 - epoch / epochs), as their code does).
    ``l1_epochs`` epochs at ``l1_lr`` (their runs: weight 1e-4, lr 0.01, 5-10 epochs)."""
    (g_retain,) = streams(generator, "retain")
    epochs = params["l1_epochs"]
    net = network(model)
    optimizer = sgd(net, params["l1_lr"], weight_decay=L1_WEIGHT_DECAY)

    def l1_term(epoch):
        if weight:
            net.flat_grads.add_(net.flat_params.sign(), alpha=weight * (1 - epoch / epochs))

    fine_tune(net, optimizer, splits.X_retain, splits.y_retain, epochs=epochs,
              batch_size=params["finetune_batch_size"], generator=g_retain, before_step=l1_term)
    return net.result()


def bad_teacher_loss(logits, targets):
    """KL(teacher || student) at temperature 1, per model the batch mean: 0 when the student's logits are the
    teachers' (the competent teacher's on retain rows, the incompetent one's on forget rows)."""
    return distill_kl(logits, targets, 1.0)


@in_blocks
def bad_teacher(model, setting, generator, splits, params):
    """Bad Teacher (Chundawat et al., AAAI 2023): distil from the original on retain rows and from a randomly
    initialised model on forget rows, on batches mixing both.

    ``setting`` is (epochs, learning rate). As the authors' code: Adam (their lr 1e-4), temperature 1, 1
    epoch, over the forget rows and a random ``badteacher_retain_share`` of the retain rows (their 30 %), per
    model.
    """
    epochs, lr = setting
    g_rows, g_init, g_subset = streams(generator, "retain", "init", "subset")
    Xr, Xf = splits.X_retain, splits.X_forget
    incompetent = fresh_model(model, g_init)
    targets = torch.cat([teacher_logits(incompetent, Xf), teacher_logits(model, Xr)], dim=1)  # (K, n, C)
    X = torch.cat([Xf, Xr])
    k, b = model.n_models, params["finetune_batch_size"]
    n_retain = max(1, round(len(Xr) * params["badteacher_retain_share"]))
    subset = torch.rand(k, len(Xr), generator=g_subset, device=Xr.device).argsort(dim=1)[:, :n_retain]
    pool = torch.cat([torch.arange(len(Xf), device=Xr.device).expand(k, -1), subset + len(Xf)], dim=1)  # (K, m)
    net = network(model)
    optimizer = adam(net, lr)
    for _ in range(int(epochs)):
        for local in batches(k, pool.shape[1], steps_per_epoch(pool.shape[1], b), b, g_rows):
            rows = pool.gather(1, local)
            keep = keep_mask(model, b, g_rows)
            target = _rows_of(targets, rows)
            net.gradient(X[rows], lambda z: loss_grad(bad_teacher_loss, z, target), keep)
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
