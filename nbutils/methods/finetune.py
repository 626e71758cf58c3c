"""Gradient steps on the retain rows: the fine-tuning control, noise then repair, and Langevin unlearning.

All three share :func:`retain_sgd`: plain SGD (no momentum, fresh for each call) on
retain mini-batches, every model with its own batches. BatchNorm normalises with its
running statistics, which stay as trained, so each row's gradient is its own
(per-example clipping needs that); dropout is on, as in training, since without it
the models overfit the retain rows (400 steps at lr 0.2 on the seed's data: test
accuracy 87.6 % without dropout, 88.6 % with). Plain SGD is the update Langevin
dynamics adds noise to and the NeurIPS 2023 challenge's fine-tuning baseline uses,
so the three methods differ only in noise, clipping and Langevin's L2 term; Adam's first
steps would move every weight by about its learning rate whatever its gradient, a
perturbation of their own.
"""

import copy
import math

import torch

from nbutils import cost
from nbutils.methods.steps import STATISTICS_ROWS
from nbutils.model import keep_threshold, random_int16
from nbutils.runtime import substream
from nbutils.train import MASK_BYTES, block_streams, model_groups, side_by_side


def batch_indices(n_models, n_rows, steps, batch_size, generator):
    """Row indices of every step's batch for every model, (steps, K, B): consecutive random permutations."""
    epochs = math.ceil(steps * batch_size / n_rows)
    device = generator.device
    order = torch.empty((n_models, 0), dtype=torch.long, device=device)
    for _ in range(epochs):
        order = torch.cat([order, torch.rand(n_models, n_rows, generator=generator, device=device).argsort(dim=1)], 1)
    return order[:, :steps * batch_size].view(n_models, steps, batch_size).transpose(0, 1)


def retain_sgd(model, X, y, *, steps, lr, batch_size, generator, clip=None, sigma=0.0, l2=0.0):
    """A copy of ``model`` after ``steps`` SGD steps on (X, y), each model on its own batches.

    Each step: theta <- theta - lr * mean_b clip(g_b + l2 * theta) + sigma * N(0, I), where g_b is row b's
    cross-entropy gradient and clip scales a row's gradient to norm at most ``clip`` (None: no clipping;
    a number, or a (K,) tensor of one bound per model).
    Every step draws its own dropout masks. Batches are drawn up front, so the same generator
    state gives the same batches whatever sigma is. Each step is :class:`SGDStep`'s hand-written
    backward; on CPU, groups of blocks of models step side by side in processes of their own
    (:func:`nbutils.train.side_by_side`), each block drawing its masks and noise from a stream of its own,
    ``MASK_BYTES`` at a time.
    """
    out = copy.deepcopy(model)
    out.eval()
    k, width, p = out.n_models, sum(out.hidden_sizes), out.dropout
    batches = batch_indices(k, len(X), steps, batch_size, generator)
    tensors = list(out.parameters())
    n_params = sum(t[0].numel() for t in tensors)  # per model
    per_draw = max(1, MASK_BYTES // (2 * k * batch_size * width + (4 * k * n_params if sigma else 0)))
    if clip is not None:
        clip = torch.as_tensor(clip, dtype=torch.float32, device=X.device).expand(k).unsqueeze(1)  # (K, 1)

    groups = model_groups(k, batch_size, X.device)
    streams = block_streams(groups, generator)
    threshold = keep_threshold(p)

    def run_group(group):
        sgd_steps = [(block, SGDStep(out, block)) for block in group]
        for first in range(0, steps, per_draw):
            rows_chunk = batches[first:first + per_draw]
            bits, noise = {}, {}
            for block, _ in sgd_steps:  # this chunk's masks and noise, from each block's own stream
                size, stream = block.stop - block.start, streams[block.start]
                if p:
                    bits[block.start] = random_int16(len(rows_chunk) * size * batch_size * width, stream).view(
                        len(rows_chunk), size, batch_size, width)
                if sigma:
                    noise[block.start] = torch.randn(len(rows_chunk), size * n_params, generator=stream,
                                                     device=X.device)
            for j, rows in enumerate(rows_chunk):  # rows: (K, B)
                for block, step in sgd_steps:
                    keep = bits[block.start][j] >= threshold if p else None
                    index = rows[block].reshape(-1)
                    shape = (block.stop - block.start, rows.shape[1])
                    step.gradient(X.index_select(0, index).view(*shape, -1), y.index_select(0, index).view(shape),
                                  keep, None if clip is None else clip[block], l2)
                    torch._foreach_add_(step.params, step.grads, alpha=-lr)
                    if sigma:
                        torch._foreach_add_(step.params, unstack_noise(noise[block.start][j], shape[0]), alpha=sigma)

    def unstack_noise(flat, size):
        """Views of one step's noise for ``size`` models, drawn flat, shaped like their parameters."""
        return [v.view(size, *t.shape[1:]) for v, t in zip(flat.split([size * t[0].numel() for t in tensors]), tensors)]

    with torch.no_grad():
        side_by_side(groups, tensors, run_group)
    return out


class SGDStep:
    """Per-example gradients of a block of models, BatchNorm on its running statistics.

    Activations are (model, row, feature). With BatchNorm frozen each row's loss is its own, so every row's
    gradient is an outer product of its deltas and its layer inputs; clipping weighs each row by
    min(1, clip / its gradient norm) before the sums (:mod:`nbutils.methods.gradients` has the algebra).
    ``params`` are the block's slices of the model's parameters, updated in place; ``grads`` match them.
    """

    def __init__(self, model, models=slice(None)):
        names, tensors = zip(*model.named_parameters())
        self.model = model
        self.params = [t.detach()[models] for t in tensors]
        self.grads = [torch.zeros_like(t) for t in self.params]
        views, grads = dict(zip(names, self.params)), dict(zip(names, self.grads))
        self.grad_by_name = grads
        n_hidden = len(model.norms)
        self.W = [views[f"linears.{i}.weight"] for i in range(n_hidden + 1)]
        self.b = [views[f"linears.{i}.bias"].transpose(1, 2) for i in range(n_hidden + 1)]  # (K, 1, out)
        self.gW = [grads[f"linears.{i}.weight"] for i in range(n_hidden + 1)]
        self.gb = [grads[f"linears.{i}.bias"].squeeze(-1) for i in range(n_hidden + 1)]  # (K, out)
        self.gamma = [views[f"norms.{i}.weight"].unsqueeze(1) for i in range(n_hidden)]  # (K, 1, h)
        self.beta = [views[f"norms.{i}.bias"].unsqueeze(1) for i in range(n_hidden)]
        self.g_gamma = [grads[f"norms.{i}.weight"] for i in range(n_hidden)]  # (K, h)
        self.g_beta = [grads[f"norms.{i}.bias"] for i in range(n_hidden)]
        self.mean = [n.running_mean[models].unsqueeze(1) for n in model.norms]
        self.inv_std = [torch.rsqrt(n.running_var[models] + n.eps).unsqueeze(1) for n in model.norms]
        self.b_head = views[f"linears.{n_hidden}.bias"]  # (K, C, 1)
        self.scale = 1 / (1 - model.dropout) if model.dropout else 1.0

    def gradient(self, X, y, keep, clip=None, l2=0.0):
        """Into ``self.grads``: mean over rows of each row's (clipped) gradient g_b + l2 * theta; X (K, B, F),
        y (K, B), keep (K, B, sum(hidden)) boolean (True: kept), or None; clip None or (K, 1), one bound per model.

        Clipped, the L2 term contributes l2 * theta * mean_b(w_b), w_b = min(1, clip / |g_b + l2 * theta|)."""
        B = X.shape[1]
        rows = self.row_deltas(X, y, keep, 1 / B if clip is None else 1.0)  # unclipped: every row weighs 1/B now
        acts, normed, linear_deltas, norm_deltas, _ = rows
        coef = l2  # weight of theta in the mean gradient, per model
        if clip is not None:
            weights = (clip / self.row_norms(rows, l2).clamp(min=1e-12)).clamp(max=1).div_(B)  # (K, B)
            if l2:
                coef = l2 * weights.sum(dim=1)  # (K,)
            weights = weights.unsqueeze(2)  # (K, B, 1)
            for t in (*linear_deltas, *norm_deltas):
                t.mul_(weights)
        for a, dz, gW, gb in zip(acts, linear_deltas, self.gW, self.gb):
            torch.bmm(dz.transpose(1, 2), a, out=gW)
            torch.sum(dz, dim=1, out=gb)
        for x, dy, g_gamma, g_beta in zip(normed, norm_deltas, self.g_gamma, self.g_beta):
            torch.sum(dy * x, dim=1, out=g_gamma)
            torch.sum(dy, dim=1, out=g_beta)
        if l2:
            for p, g in zip(self.params, self.grads):
                g.add_(p * (coef.view(-1, *[1] * (p.dim() - 1)) if torch.is_tensor(coef) else coef))

    def row_deltas(self, X, y, keep, row_weight=1.0):
        """Forward and backward of every row: (acts, normed, linear_deltas, norm_deltas, logits), the deltas of
        each row's own loss times ``row_weight``; logits (K, C, B)."""
        B, scale = X.shape[1], self.scale
        cost.forward(self.W, B), cost.backward(self.W, B)
        keeps = keep.split(self.model.hidden_sizes, dim=2) if keep is not None else [None] * len(self.gamma)
        acts, normed = [X], []
        a = X
        for W, b, gamma, beta, mean, inv_std, k in zip(self.W, self.b, self.gamma, self.beta, self.mean,
                                                      self.inv_std, keeps):
            x = torch.baddbmm(b, a, W.transpose(1, 2)).sub_(mean).mul_(inv_std)
            a = torch.addcmul(beta * scale, x, gamma * scale).relu_()  # relu(y) / (1 - p) = relu(y / (1 - p))
            if k is not None:
                a.mul_(k)
            acts.append(a), normed.append(x)
        # The head in (model, class, row) layout: softmax over a middle axis of 2 classes is 8 times faster
        logits = torch.baddbmm(self.b_head, self.W[-1], a.transpose(1, 2))  # (K, C, B)
        d = logits.softmax(dim=1)
        d.scatter_add_(1, y.unsqueeze(1), torch.full((y.shape[0], 1, B), -1.0, device=X.device))  # - one_hot
        d = d.transpose(1, 2)  # (K, B, C), as the other deltas
        if row_weight != 1.0:
            d.mul_(row_weight)  # the deltas below inherit the weight
        linear_deltas, norm_deltas = [d], []
        for i in reversed(range(len(self.gamma))):
            dy = torch.ops.aten.threshold_backward(torch.bmm(linear_deltas[0], self.W[i + 1]), acts[i + 1], 0)
            if keeps[i] is not None:
                dy.mul_(scale)  # where kept; threshold_backward zeroed the rest
            norm_deltas.insert(0, dy)
            linear_deltas.insert(0, dy * (self.gamma[i] * self.inv_std[i]))
        return acts, normed, linear_deltas, norm_deltas, logits

    def row_norms(self, rows, l2=0.0):
        """Each row's gradient norm |g_b + l2 * theta| over all parameters of its model, (K, B), from
        :meth:`row_deltas` (unweighted): |g_b|^2 + 2 l2 <g_b, theta> + l2^2 |theta|^2."""
        acts, normed, linear_deltas, norm_deltas, logits = rows
        squared = self._squared_norms(acts, normed, linear_deltas, norm_deltas)
        if l2:
            theta = sum(p.flatten(1).square().sum(dim=1) for p in self.params).unsqueeze(1)  # (K, 1)
            squared = squared + 2 * l2 * self._inner_with_params(*rows) + l2 ** 2 * theta
        return squared.clamp(min=0).sqrt()

    def _inner_with_params(self, acts, normed, linear_deltas, norm_deltas, logits):
        """Each row's <g_b, theta>, (K, B): a Linear layer's is sum_o dz_o * (W a + b)_o, a BatchNorm's
        sum_h dy_h * (gamma_h x_h + beta_h), both from what the forward pass kept."""
        total = (linear_deltas[-1] * logits.transpose(1, 2)).sum(dim=2)
        for x, mean, inv_std, dz in zip(normed, self.mean, self.inv_std, linear_deltas):
            total = total + (dz * (x / inv_std + mean)).sum(dim=2)  # W a + b, before normalising
        for x, dy, gamma, beta in zip(normed, norm_deltas, self.gamma, self.beta):
            total = total + (dy * (x * gamma + beta)).sum(dim=2)
        return total

    @staticmethod
    def _squared_norms(acts, normed, linear_deltas, norm_deltas):
        """Each row's squared gradient norm over all parameters of its model: (K, B)."""
        total = 0
        for a, dz in zip(acts, linear_deltas):
            total = total + dz.square().sum(dim=2) * (a.square().sum(dim=2) + 1)
        for x, dy in zip(normed, norm_deltas):
            total = total + (dy.square() * (x.square() + 1)).sum(dim=2)
        return total



def _sgd(model, steps, generator, splits, params, **langevin):
    return retain_sgd(model, splits.X_retain, splits.y_retain, steps=steps, lr=params["finetune_lr"],
                      batch_size=params["finetune_batch_size"], generator=generator, **langevin)


def finetune(model, steps, generator, splits, params):
    """The control: ``steps`` SGD steps on the retain rows, no noise (the NeurIPS 2023 challenge's baseline)."""
    return _sgd(model, steps, generator, splits, params)


def repair(model, steps, generator, splits, params):
    """Noise, then repair: ``repair_base`` at ``repair_base_value``, then ``steps`` SGD steps on the retain rows.

    The noise comes from a stream of its own (:func:`~nbutils.runtime.substream`), so the steps draw from
    ``generator`` exactly the batches and dropout masks that fine-tuning alone draws from it: at equal steps
    the two differ only by the noise (common random numbers).
    """
    from nbutils.methods import METHODS  # the registry imports this module

    noisy = METHODS[params["repair_base"]].apply(model, params["repair_base_value"], substream(generator, "noise"),
                                                 splits, params)
    return _sgd(noisy, steps, generator, splits, params)


def gradient_norm_quantile(model, X, y, q, generator, l2=0.0):
    """Per model, the ``q`` quantile of the retain rows' gradient norms |g_b + l2 * theta| at ``model``'s
    weights, with dropout masks drawn from ``generator`` as the steps draw theirs: (K,).

    From the first ``STATISTICS_ROWS`` rows (in random order for every forget request), in chunks that bound
    memory; all K models at once."""
    X, y = X[:STATISTICS_ROWS], y[:STATISTICS_ROWS]
    k, width, p = model.n_models, sum(model.hidden_sizes), model.dropout
    chunk = max(1, MASK_BYTES // (4 * k * max(width, X.shape[1])))
    step = SGDStep(model)
    norms = []
    with torch.no_grad():
        for first in range(0, len(X), chunk):
            Xc, yc = X[first:first + chunk], y[first:first + chunk]
            keep = None
            if p:
                keep = random_int16(k * len(Xc) * width, generator).view(k, len(Xc), width) >= keep_threshold(p)
            rows = step.row_deltas(Xc.expand(k, -1, -1), yc.expand(k, -1), keep)
            norms.append(step.row_norms(rows, l2))
    return torch.quantile(torch.cat(norms, dim=1), q, dim=1)


def langevin(model, setting, generator, splits, params):
    """Langevin unlearning (Chien, Wang, Li, NeurIPS 2024): noisy, clipped SGD on the retain rows.

    ``setting`` is (sigma, steps): ``steps`` steps from the trained weights, N(0, sigma^2) added to every
    parameter at every step (their sqrt(2 * lr * sigma'^2)). As in the authors' code (Graph-COM/
    Langevin_unlearning, ``langevin.py``), each row's gradient carries an L2 term, g_b + lambda * n * theta
    with lambda = ``langevin_l2`` (their ``--lam``, 1e-6) and n the retain rows, and is clipped as a whole.
    The clip is the ``langevin_clip_quantile`` quantile of those norms over the retain rows at the trained
    weights, per model (0: no clipping): their bound M = 1 is a Lipschitz constant their normalised features
    make hold, which a fixed number cannot be here. The masks of that pass come from a stream of their own,
    so every setting, sigma = 0 included (the method's own control: clipping alone), draws the batches and
    masks of fine-tuning. Their certificate assumes a convex loss; this network's is not, so none is claimed.
    """
    sigma, steps = setting
    X, y = splits.X_retain, splits.y_retain
    l2 = params["langevin_l2"] * len(X)
    q = params["langevin_clip_quantile"]
    clip = gradient_norm_quantile(model, X, y, q, substream(generator, "clip"), l2) if q and steps else None
    return _sgd(model, int(steps), generator, splits, params, clip=clip, sigma=sigma, l2=l2)
