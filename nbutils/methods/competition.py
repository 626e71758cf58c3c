"""The NeurIPS 2023 unlearning competition's top three entries (Triantafillou et al., 2024), adapted to an MLP.

Written from the entries as DeepUnlearn ports them (``kgltop1.py`` to ``kgltop3.py``), with their optimisers
and schedules; the batch size is ``finetune_batch_size`` (theirs 64 to 256, for images), and where they touch
convolutions this port touches Linear layers, as each docstring says. They run on
:mod:`nbutils.methods.steps`: BatchNorm on its running statistics during the steps, recomputed from the retain
rows wherever weights are re-initialised or perturbed.
"""

import copy
import math

import torch

from nbutils.engine import batches, in_blocks, keep_mask, steps_per_epoch
from nbutils.methods.baselines import GRADIENT_ROWS, fine_tune, forget_gradient
from nbutils.methods.steps import (
    ce_grad,
    loss_grad,
    network,
    retain_statistics,
    sgd,
)
from nbutils.runtime import streams

# FCS (1st place): three SGD optimisers on the same weights, as in the entry
FCS_UNIFORM_LR, FCS_FORGET_LR, FCS_RETAIN_LR = 0.005, 3e-4, 0.001  # retain lr scaled by batch size / 64
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
def fcs(model, epochs, generator, splits, params):
    """FCS, 1st place: one pass pulling the forget rows' outputs to uniform (KL), then ``epochs`` rounds of a
    contrastive pass (forget batches against detached retain batches, cosine-annealed learning rate) followed
    by one epoch of CE on the retain rows. The entry's 8 epochs, temperature 1.15 and learning rates."""
    g_retain, g_pair, g_forget = streams(generator, "retain", "pair", "forget")
    Xr, yr, Xf = splits.X_retain, splits.y_retain, splits.X_forget
    k, b = model.n_models, params["finetune_batch_size"]
    net = network(model)
    to_uniform = sgd(net, FCS_UNIFORM_LR)
    forget_opt = sgd(net, FCS_FORGET_LR)
    retain_opt = sgd(net, FCS_RETAIN_LR * b / 64, weight_decay=FCS_RETAIN_WEIGHT_DECAY)
    per_forget = steps_per_epoch(len(Xf), b)
    for f in batches(k, len(Xf), per_forget, b, g_forget):
        net.gradient(Xf[f], lambda z: loss_grad(uniform_kl, z), keep_mask(model, b, g_forget))
        to_uniform.step()
    total, t = per_forget * int(epochs), 0
    for _ in range(int(epochs)):
        pairs = zip(batches(k, len(Xf), per_forget, b, g_forget), batches(k, len(Xr), per_forget, b, g_pair))
        for f, r in pairs:
            keep_f, keep_r = keep_mask(model, b, g_forget), keep_mask(model, b, g_pair)
            retain_logits = net.forward(Xr[r], keep_r)[0].transpose(1, 2)
            net.gradient(Xf[f], lambda z: loss_grad(contrastive, z, retain_logits, FCS_TEMPERATURE), keep_f)
            lr = FCS_ETA_MIN + (FCS_FORGET_LR - FCS_ETA_MIN) * (1 + math.cos(math.pi * t / total)) / 2
            forget_opt.step(lr)
            t += 1
        fine_tune(net, retain_opt, Xr, yr, epochs=1, batch_size=b, generator=g_retain)
    return net.result()


MSG_DAMPING, MSG_WEIGHT_DECAY = 0.1, 5e-4


def msg_scores(model, splits, generator):
    """|gradient of CE(retain) - CE(forget)| by parameter name, the retain rows a random subset as large as the
    forget set (per model), evaluation mode."""
    net = network(model)
    k, n_forget = model.n_models, len(splits.X_forget)
    subset = torch.rand(k, len(splits.X_retain), generator=generator, device=generator.device).argsort(dim=1)
    subset = subset[:, :n_forget]
    for start in range(0, n_forget, GRADIENT_ROWS):
        rows = subset[:, start:start + GRADIENT_ROWS]
        net.gradient(splits.X_retain[rows], lambda z: ce_grad(z, splits.y_retain[rows], rows.shape[1] / n_forget))
    forget_gradient(net, splits.X_forget, splits.y_forget, scale=-1.0)
    return {name: g.abs() for name, g in net.grad.items()}


@in_blocks
def msg(model, rate, generator, splits, params):
    """MSG, 2nd place: in every hidden Linear layer (the entry's convolutions; the head stays, as their fully
    connected layer does), re-initialise the ``rate`` of weights with the smallest |gradient of CE(retain) -
    CE(forget)| (Kaiming normal, fan-out), damp the other weights' gradients to 0.1, then ``msg_epochs``
    epochs of CE on the retain rows, SGD at ``msg_lr`` with momentum 0.9 and weight decay 5e-4, the learning
    rate rising linearly over half the epochs and falling after. The entry's rate 0.3, 5 epochs, lr 0.001.
    BatchNorm's statistics are recomputed from the retain rows after the re-initialisation and at the end."""
    g_subset, g_init, g_retain, g_stats = streams(generator, "subset", "init", "retain", "statistics")
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
    retain_statistics(out, splits.X_retain, g_stats)
    net = network(out)
    factors = torch.ones_like(net.flat_params)
    views = net.views(factors)
    for name, d in damping.items():
        views[name].copy_(d)
    epochs = params["msg_epochs"]
    rising = (epochs + 1) // 2

    def lr_at(epoch):  # the entry's LinearAnnealingLR, stepped once per epoch
        step = epoch + 1
        share = step / rising if step <= rising else (epochs + 1 - step) / (epochs + 1 - rising)
        return params["msg_lr"] * share

    optimizer = sgd(net, params["msg_lr"], weight_decay=MSG_WEIGHT_DECAY)
    fine_tune(net, optimizer, splits.X_retain, splits.y_retain, epochs=epochs,
              batch_size=params["finetune_batch_size"], generator=g_retain, lr_at=lr_at,
              before_step=lambda epoch: net.flat_grads.mul_(factors))
    return retain_statistics(net.result(), splits.X_retain, g_stats)


CFW_FINAL_SIGMA, CFW_WEIGHT_DECAY = 0.005, 5e-4


@in_blocks
def cfw(model, sigma, generator, splits, params):
    """CFW, 3rd place: Gaussian noise of std ``sigma`` on the first layer's weights (the entry's code adds it to
    the model's stem convolution only; its default 0.6), then ``cfw_epochs`` epochs of class-balanced CE on
    the retain rows (SGD at ``cfw_lr`` with momentum 0.9, weight decay 5e-4, cosine schedule; the entry's 4 and
    0.0007), and a second draw of std 0.005 after the second-to-last epoch. Each row is weighed by
    n / (C * its class's count), which the entry meant (its code multiplies the batch-mean loss by the mean
    weight). BatchNorm's statistics are recomputed from the retain rows after the first noise and at the end."""
    g_noise, g_retain, g_stats = streams(generator, "noise", "retain", "statistics")
    Xr, yr = splits.X_retain, splits.y_retain
    n_classes = model.linears[-1].weight.shape[1]
    out = copy.deepcopy(model)
    with torch.no_grad():
        w = out.linears[0].weight
        w.add_(torch.randn(w.shape, generator=g_noise, device=w.device), alpha=sigma)
    retain_statistics(out, Xr, g_stats)
    counts = torch.bincount(yr, minlength=n_classes).clamp(min=1).to(torch.float32)
    class_weights = len(yr) / (n_classes * counts)
    net = network(out)
    optimizer = sgd(net, params["cfw_lr"], weight_decay=CFW_WEIGHT_DECAY)
    epochs = params["cfw_epochs"]
    first = net.param["linears.0.weight"]
    for epoch in range(epochs):
        lr = params["cfw_lr"] * (1 + math.cos(math.pi * epoch / epochs)) / 2
        fine_tune(net, optimizer, Xr, yr, epochs=1, batch_size=params["finetune_batch_size"], generator=g_retain,
                  class_weights=class_weights, lr_at=lambda _: lr)
        if epoch == epochs - 2:
            first.add_(torch.randn(first.shape, generator=g_noise, device=first.device), alpha=CFW_FINAL_SIGMA)
    return retain_statistics(net.result(), Xr, g_stats)
