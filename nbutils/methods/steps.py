"""Gradient steps with any loss on the logits, for every model of an ensemble at once: the baselines' engine.

The field's baselines (NegGrad+, SCRUB, SalUn, ...) differ in their losses, not in their networks. Each loss
here is written as its gradient with respect to the logits, (K, B, C); :class:`Network` takes it back through
the stacked MLP by hand (the algebra of :mod:`nbutils.methods.gradients`) into one (K, P) buffer that holds
every parameter of every model, row k being model k's P parameters. Elementwise optimizers, gradient masks
(SalUn, MSG, CF-k) and per-model rankings (a mask's top fraction) then act on that buffer directly.

BatchNorm normalises with its running statistics, which the steps leave as they are, and dropout is on, as in
the project's fine-tuning (:mod:`nbutils.methods.finetune` says why): forget rows never reach a buffer. A
method that re-initialises or perturbs weights recomputes the statistics from the retain rows
(:func:`retain_statistics`), with dropout in the layers below as training has it.

Randomness: a method splits its generator into named streams (:func:`nbutils.runtime.streams`), so retain
batches, forget batches, random labels and re-initialisations are drawn independently, and two methods that
read the same stream name get the same draws (NegGrad+ at alpha = 1 and fine-tuning see the same retain batches).
"""

import copy
import math

import torch
import torch.nn.functional as F

from nbutils import cost
from nbutils.model import MLPEnsemble, draw_keep_masks, keep_threshold, random_int16

MOMENTUM = 0.9  # SGD's momentum in every baseline's public code that uses SGD


def batches(n_models, n_rows, n_batches, batch_size, generator):
    """Row indices (n_batches, K, B): each model reads its own consecutive random permutations of the rows."""
    per_pass = max(1, n_rows)
    passes = math.ceil(n_batches * batch_size / per_pass)
    device = generator.device
    order = torch.cat([torch.rand(n_models, n_rows, generator=generator, device=device).argsort(dim=1)
                       for _ in range(passes)], dim=1)
    return order[:, :n_batches * batch_size].view(n_models, n_batches, batch_size).transpose(0, 1)


def steps_per_epoch(n_rows, batch_size):
    """Batches in one pass over ``n_rows`` rows (the last one topped up from the next pass)."""
    return max(1, math.ceil(n_rows / batch_size))


def keep_masks(model, n_rows, generator):
    """Inverted-dropout masks (K, B, h) per hidden layer, or None without dropout."""
    p = model.dropout
    if not p:
        return None
    k, width = model.n_models, sum(model.hidden_sizes)  # 16-bit draws, as training's: ten times faster than floats
    keep = random_int16(k * n_rows * width, generator).view(k, n_rows, width) >= keep_threshold(p)
    return keep.to(torch.float32).mul_(1 / (1 - p)).split(model.hidden_sizes, dim=2)


class Network:
    """A copy of an MLPEnsemble as one (K, P) parameter buffer, with forward and hand-written backward passes.

    ``forward(X, keep)`` takes X (K, B, F) (one batch per model) and returns logits (K, B, C) and what the
    backward needs; ``backward(cache, d)`` adds to ``grads`` the gradient of sum_k L_k, given d = dL/dlogits.
    Only Linear layers ``first`` and above get gradients (the rest keep 0): CF-k trains the last k alone.
    """

    def __init__(self, model):
        self.model = copy.deepcopy(model).eval()
        names, tensors = zip(*self.model.named_parameters())
        k = self.model.n_models
        self.names, self.tensors = names, tensors
        self.params = torch.cat([t.detach().reshape(k, -1) for t in tensors], dim=1)  # (K, P)
        self.grads = torch.zeros_like(self.params)
        self.param, self.grad = self._views(self.params), self._views(self.grads)
        n = len(self.model.norms)
        self.n_hidden = n
        self.W = [self.param[f"linears.{i}.weight"] for i in range(n + 1)]  # (K, out, in)
        self.b = [self.param[f"linears.{i}.bias"].transpose(1, 2) for i in range(n + 1)]  # (K, 1, out)
        self.gW = [self.grad[f"linears.{i}.weight"] for i in range(n + 1)]
        self.gb = [self.grad[f"linears.{i}.bias"].squeeze(-1) for i in range(n + 1)]  # (K, out)
        self.gamma = [self.param[f"norms.{i}.weight"].unsqueeze(1) for i in range(n)]  # (K, 1, h)
        self.beta = [self.param[f"norms.{i}.bias"].unsqueeze(1) for i in range(n)]
        self.g_gamma = [self.grad[f"norms.{i}.weight"] for i in range(n)]  # (K, h)
        self.g_beta = [self.grad[f"norms.{i}.bias"] for i in range(n)]
        self.refresh_statistics()

    def _views(self, flat):
        views, start = {}, 0
        for name, t in zip(self.names, self.tensors):
            size = t[0].numel()
            views[name] = flat[:, start:start + size].view(t.shape)
            start += size
        return views

    def refresh_statistics(self):
        """Read BatchNorm's running statistics from the model (after :func:`retain_statistics`)."""
        self.mean = [n.running_mean.unsqueeze(1) for n in self.model.norms]
        self.inv_std = [torch.rsqrt(n.running_var + n.eps).unsqueeze(1) for n in self.model.norms]

    def layer_mask(self, first):
        """(1, P) of 1 on Linear layers ``first`` and above and the BatchNorms after them, 0 elsewhere."""
        parts = [torch.full((1, t[0].numel()), float(int(name.split(".")[1]) >= first), device=self.params.device)
                 for name, t in zip(self.names, self.tensors)]
        return torch.cat(parts, dim=1)

    def forward(self, X, keep=None):
        cost.forward(self.W, X.shape[1])
        acts, normed, a = [X], [], X
        for i in range(self.n_hidden):
            x = torch.baddbmm(self.b[i], a, self.W[i].transpose(1, 2)).sub_(self.mean[i]).mul_(self.inv_std[i])
            a = torch.addcmul(self.beta[i], x, self.gamma[i]).relu_()
            if keep is not None:
                a = a.mul_(keep[i])
            acts.append(a), normed.append(x)
        logits = torch.baddbmm(self.b[-1], a, self.W[-1].transpose(1, 2))
        return logits, (acts, normed, keep)

    def backward(self, cache, d, first=0):
        acts, normed, keep = cache
        cost.backward(self.W, acts[0].shape[1], first)
        for i in reversed(range(first, self.n_hidden + 1)):
            self.gW[i].add_(torch.bmm(d.transpose(1, 2), acts[i]))
            self.gb[i].add_(d.sum(dim=1))
            if i == first:
                break
            dy = torch.ops.aten.threshold_backward(torch.bmm(d, self.W[i]), acts[i], 0)  # 0 where dropped or relu'd
            if keep is not None:
                dy.mul_(keep[i - 1])
            self.g_gamma[i - 1].add_((dy * normed[i - 1]).sum(dim=1))
            self.g_beta[i - 1].add_(dy.sum(dim=1))
            d = dy.mul_(self.gamma[i - 1] * self.inv_std[i - 1])

    def gradient(self, X, loss_grad, keep=None, first=0):
        """Forward X, then backward ``loss_grad(logits)``, added to ``grads``; returns the logits."""
        logits, cache = self.forward(X, keep)
        self.backward(cache, loss_grad(logits), first)
        return logits

    def result(self):
        """The model with this buffer's parameters (its BatchNorm statistics as they are)."""
        with torch.no_grad():
            for name, t in zip(self.names, self.tensors):
                t.copy_(self.param[name])
        return self.model


class SGD:
    """torch.optim.SGD's update on the buffer: g = grads + wd * params, masked; momentum buffer; params -= lr * g.

    A ``mask`` multiplies the whole update, weight decay included, so a 0 leaves a parameter bit-identical.
    """

    def __init__(self, net, lr, momentum=MOMENTUM, weight_decay=0.0, mask=None):
        self.net, self.lr, self.momentum, self.weight_decay, self.mask = net, lr, momentum, weight_decay, mask
        self.buffer = None

    def step(self, lr=None):
        g = self.net.grads
        if self.weight_decay:
            g = g.add(self.net.params, alpha=self.weight_decay)
        if self.mask is not None:
            g = g * self.mask
        if self.momentum:
            self.buffer = g.clone() if self.buffer is None else self.buffer.mul_(self.momentum).add_(g)
            g = self.buffer
        self.net.params.sub_(g, alpha=self.lr if lr is None else lr)
        self.net.grads.zero_()


class Adam:
    """torch.optim.Adam's update (L2 weight decay 0) on the buffer."""

    def __init__(self, net, lr, betas=(0.9, 0.999), eps=1e-8):
        self.net, self.lr, self.betas, self.eps, self.t = net, lr, betas, eps, 0
        self.m, self.v = torch.zeros_like(net.params), torch.zeros_like(net.params)

    def step(self, lr=None):
        self.t += 1
        b1, b2 = self.betas
        g = self.net.grads
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
        self.net.params.addcdiv_(self.m, denom, value=-(self.lr if lr is None else lr) / (1 - b1 ** self.t))
        self.net.grads.zero_()


# Losses, as their gradients with respect to the logits (K, B, C); each model's loss is its batch mean.


def ce_grad(logits, y, scale=1.0, row_weights=None):
    """scale * d/dlogits of the mean cross-entropy; y (K, B); ``row_weights`` (K, B) weigh each row's term."""
    d = logits.softmax(dim=2)
    d.scatter_add_(2, y.unsqueeze(2), torch.full((*y.shape, 1), -1.0, device=logits.device))
    w = scale / logits.shape[1]
    return d.mul_(w) if row_weights is None else d.mul_(row_weights.unsqueeze(2) * w)


def loss_grad(loss, logits, *args):
    """d/dlogits of ``loss(logits, *args)`` (summed over models) by autograd on the logits alone."""
    with torch.enable_grad():
        z = logits.detach().requires_grad_()
        return torch.autograd.grad(loss(z, *args), z)[0]


def distill_kl(logits, teacher_logits, temperature=1.0):
    """KL(teacher || student) at ``temperature``, times T^2, per model the batch mean (SCRUB's DistillKL)."""
    t = temperature
    log_p = F.log_softmax(logits / t, dim=2)
    q = F.softmax(teacher_logits / t, dim=2)
    return (q * (q.clamp_min(1e-30).log() - log_p)).sum(dim=2).mean(dim=1).sum() * t * t


def teacher_logits(model, X):
    """Evaluation-mode logits (K, n, C) of every model for the shared rows X (n, F)."""
    model.eval()
    with torch.no_grad():
        return model(X).transpose(1, 2).contiguous()


def fresh_model(model, generator):
    """A newly initialised ensemble of ``model``'s architecture, drawn from ``generator``."""
    first = model.linears[0].weight
    n_classes = model.linears[-1].weight.shape[1]
    return MLPEnsemble(model.n_models, first.shape[2], model.hidden_sizes, n_classes, model.dropout, generator)


STATISTICS_ROWS = 16_384  # retain rows the recomputed BatchNorm statistics come from, at most


@torch.no_grad()
def retain_statistics(model, X_retain, generator):
    """Set every BatchNorm's running mean and variance to those of its input over the retain rows, in place.

    As in training, each BatchNorm sees the layer below with dropout on (the masks drawn from ``generator``):
    training's running statistics average batch means and unbiased batch variances of dropped-out
    activations, whose expectations are the mean and variance over all rows computed here.
    """
    X = X_retain[:STATISTICS_ROWS]
    saved = [norm.momentum for norm in model.norms]
    for norm in model.norms:
        norm.momentum = 1.0  # running statistics := this pass's
    masks = draw_keep_masks(len(X), model.n_models, model.hidden_sizes, model.dropout, generator) \
        if model.dropout else None
    model.train()
    model(X, masks)
    model.eval()
    for norm, momentum in zip(model.norms, saved):
        norm.momentum = momentum
    return model
