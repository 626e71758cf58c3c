"""The NeurIPS 2023 unlearning competition's top three entries (Triantafillou et al., 2024), adapted to an MLP.

Written from the entries as DeepUnlearn ports them (``kgltop1.py`` to ``kgltop3.py``), with their optimisers
and schedules; the batch size is ``finetune_batch_size`` (theirs 64 to 256, for images, their learning rates
rescaled to ours), and where they touch convolutions this port touches Linear layers, as each docstring says.
They run on :mod:`nbutils.methods.steps`, BatchNorm in training mode as the entries run it.
"""

import copy
import math

import torch

from nbutils.engine import batches, in_blocks, keep_mask, permutations, steps_per_epoch
from nbutils.methods.baselines import fine_tune
from nbutils.methods.steps import (
    GRADIENT_ROWS,
    ce_grad,
    loss_grad,
    mean_gradient,
    network,
    rescaled_lr,
    sgd,
)
from nbutils.runtime import streams

# FCS (1st place): three SGD optimisers on the same weights, as in the entry, with their learning rates at its
# batch of 256 (the retain one its own 0.001 * 256 / 64)
FCS_UNIFORM_LR, FCS_FORGET_LR, FCS_RETAIN_LR, FCS_BATCH = 0.005, 3e-4, 0.004, 256
FCS_RETAIN_WEIGHT_DECAY, FCS_ETA_MIN, FCS_TEMPERATURE = 1e-2, 1e-6, 1.15


def uniform_kl(logits):
    """KL(uniform || softmax(logits)), per model the batch mean."""
    c = logits.shape[2]
    return (-math.log(c) - logits.log_softmax(dim=2).mean(dim=2)).mean(dim=1).sum()


def contrastive(logits, retain_logits, temperature):
    """The entry's forget-vs-retain loss: -mean log_softmax(forget logits . retain logits^T / T) over retain rows."""
    similarity = torch.bmm(logits, retain_logits.transpose(1, 2)) / temperature  # (K, B_forget, B_retain)
    return -similarity.log_softmax(dim=2).mean(dim=(1, 2)).sum()


@in_blocks
def fcs(model, setting, generator, splits, params):
    """FCS, 1st place: one pass pulling the forget rows' outputs to uniform (KL), then ``epochs`` rounds of a
    contrastive pass (forget batches against detached retain batches, cosine-annealed learning rate) followed
    by one epoch of CE on the retain rows; BatchNorm in training mode throughout, as the entry runs.

    ``setting`` is (epochs, uniform weight): the weight multiplies the first pass's loss, the entry's 1, 0 skips
    it (this port's knob: the push to uniform outputs is wrong wherever retrained models stay confident on the
    forget rows). The entry's 8 epochs, temperature 1.15 and learning rates, rescaled linearly from its batch of
    256 to ``finetune_batch_size``.
    """
    epochs, weight = setting
    g_retain, g_pair, g_forget = streams(generator, "retain", "pair", "forget")
    Xr, yr, Xf = splits.X_retain, splits.y_retain, splits.X_forget
    k, b = model.n_models, params["finetune_batch_size"]
    net = network(model)
    to_uniform = sgd(net, rescaled_lr(FCS_UNIFORM_LR, FCS_BATCH, b))
    forget_lr = rescaled_lr(FCS_FORGET_LR, FCS_BATCH, b)
    forget_opt = sgd(net, forget_lr)
    retain_opt = sgd(net, rescaled_lr(FCS_RETAIN_LR, FCS_BATCH, b), weight_decay=FCS_RETAIN_WEIGHT_DECAY)
    per_forget = steps_per_epoch(len(Xf), b)
    for f in batches(k, len(Xf), per_forget, b, g_forget):
        keep = keep_mask(model, b, g_forget)
        if weight:
            net.gradient(Xf[f], lambda z: loss_grad(uniform_kl, z) * weight, keep, batch_statistics=True)
            to_uniform.step()
    total, t = per_forget * int(epochs), 0
    for _ in range(int(epochs)):
        pairs = zip(batches(k, len(Xf), per_forget, b, g_forget), batches(k, len(Xr), per_forget, b, g_pair))
        for f, r in pairs:
            keep_f, keep_r = keep_mask(model, b, g_forget), keep_mask(model, b, g_pair)
            retain_logits, cache = net.forward(Xr[r], keep_r, batch_statistics=True)
            net.update_running_statistics(cache)  # a forward in training mode moves them, as in the entry
            retain_logits = retain_logits.transpose(1, 2)
            net.gradient(Xf[f], lambda z: loss_grad(contrastive, z, retain_logits, FCS_TEMPERATURE), keep_f,
                         batch_statistics=True)
            lr = FCS_ETA_MIN + (forget_lr - FCS_ETA_MIN) * (1 + math.cos(math.pi * t / total)) / 2
            forget_opt.step(lr)
            t += 1
        fine_tune(net, retain_opt, Xr, yr, epochs=1, batch_size=b, generator=g_retain, batch_statistics=True)
    return net.result()


MSG_DAMPING, MSG_WEIGHT_DECAY = 0.1, 5e-4
COMPETITION_BATCH = 64  # the batch of the 2nd and 3rd entries, at which their learning rates were set


def msg_scores(model, splits, generator):
    """|gradient of CE(retain) - CE(forget)| by parameter name, the retain rows a random subset as large as the
    forget set (per model), evaluation mode."""
    net = network(model)
    k, n_forget = model.n_models, len(splits.X_forget)
    subset = permutations(k, len(splits.X_retain), generator)[:, :n_forget]
    for start in range(0, n_forget, GRADIENT_ROWS):
        rows = subset[:, start:start + GRADIENT_ROWS]
        net.gradient(splits.X_retain[rows], lambda z: ce_grad(z, splits.y_retain[rows], rows.shape[1] / n_forget))
    mean_gradient(net, splits.X_forget, splits.y_forget, scale=-1.0)
    return {name: g.abs() for name, g in net.grad.items()}


@in_blocks
def msg(model, rate, generator, splits, params):
    """MSG, 2nd place: in every hidden Linear layer (the entry's convolutions; the head stays, as their fully
    connected layer does), re-initialise the ``rate`` of weights with the smallest |gradient of CE(retain) -
    CE(forget)| (Kaiming normal, fan-out), damp the other weights' gradients to 0.1, then ``msg_epochs``
    epochs of CE on the retain rows, SGD at ``msg_lr`` with momentum 0.9 and weight decay 5e-4, the learning
    rate rising linearly over half the epochs and falling after. The entry's rate 0.3, 5 epochs, lr 0.001 at its
    batch of 64 (rescaled linearly to ``finetune_batch_size``), BatchNorm in training mode while it fine-tunes,
    so its running statistics follow the re-initialised weights, as in the entry."""
    g_subset, g_init, g_retain = streams(generator, "subset", "init", "retain")
    scores = msg_scores(model, splits, g_subset)
    out = copy.deepcopy(model)
    damping = {}
    with torch.no_grad():
        for i, linear in enumerate(out.linears[:-1]):
            w = linear.weight  # (K, out, in)
            flat = scores[f"linears.{i}.weight"].flatten(1)  # (K, out * in)
            count = round(rate * flat.shape[1])
            chosen = torch.zeros_like(flat, dtype=torch.bool)
            if count:
                chosen.scatter_(1, flat.topk(count, dim=1, largest=False).indices, True)
            chosen = chosen.view(w.shape)
            fresh = torch.randn(w.shape, generator=g_init, device=w.device) * math.sqrt(2 / w.shape[1])
            w.copy_(torch.where(chosen, fresh, w))
            damping[f"linears.{i}.weight"] = torch.where(chosen, 1.0, MSG_DAMPING)
    net = network(out)
    factors = torch.ones_like(net.flat_params)
    views = net.views(factors)
    for name, d in damping.items():
        views[name].copy_(d)
    epochs, b = params["msg_epochs"], params["finetune_batch_size"]
    rising, lr = (epochs + 1) // 2, rescaled_lr(params["msg_lr"], COMPETITION_BATCH, b)

    def lr_at(epoch):  # the entry's LinearAnnealingLR, stepped once per epoch
        step = epoch + 1
        share = step / rising if step <= rising else (epochs + 1 - step) / (epochs + 1 - rising)
        return lr * share

    optimizer = sgd(net, lr, weight_decay=MSG_WEIGHT_DECAY)
    fine_tune(net, optimizer, splits.X_retain, splits.y_retain, epochs=epochs, batch_size=b, generator=g_retain,
              lr_at=lr_at, before_step=lambda epoch: net.flat_grads.mul_(factors), batch_statistics=True)
    return net.result()


CFW_FINAL_SIGMA, CFW_WEIGHT_DECAY = 0.005, 5e-4


@in_blocks
def cfw(model, sigma, generator, splits, params):
    """CFW, 3rd place: Gaussian noise of std ``sigma`` on the first layer's weights (the entry's code adds it to
    the model's stem convolution only; its default 0.6), then ``cfw_epochs`` epochs of class-balanced CE on
    the retain rows (SGD at ``cfw_lr`` with momentum 0.9, weight decay 5e-4, cosine schedule; the entry's 4 and
    0.0007 at its batch of 64, rescaled linearly to ``finetune_batch_size``), and a second draw of std 0.005
    after the second-to-last epoch. As in the entry's code, each batch's mean loss is multiplied by its rows'
    mean class weight n / (C * count), and BatchNorm is in training mode while it fine-tunes."""
    g_noise, g_retain = streams(generator, "noise", "retain")
    Xr, yr = splits.X_retain, splits.y_retain
    n_classes = model.linears[-1].weight.shape[1]
    out = copy.deepcopy(model)
    with torch.no_grad():
        w = out.linears[0].weight
        w.add_(torch.randn(w.shape, generator=g_noise, device=w.device), alpha=sigma)
    counts = torch.bincount(yr, minlength=n_classes).clamp(min=1).to(torch.float32)
    class_weights = len(yr) / (n_classes * counts)
    net = network(out)
    epochs, b = params["cfw_epochs"], params["finetune_batch_size"]
    peak = rescaled_lr(params["cfw_lr"], COMPETITION_BATCH, b)
    optimizer = sgd(net, peak, weight_decay=CFW_WEIGHT_DECAY)
    first = net.param["linears.0.weight"]
    for epoch in range(epochs):
        lr = peak * (1 + math.cos(math.pi * epoch / epochs)) / 2
        fine_tune(net, optimizer, Xr, yr, epochs=1, batch_size=b, generator=g_retain, class_weights=class_weights,
                  mean_weight=True, lr_at=lambda _: lr, batch_statistics=True)
        if epoch == epochs - 2:
            first.add_(torch.randn(first.shape, generator=g_noise, device=first.device), alpha=CFW_FINAL_SIGMA)
    return net.result()
