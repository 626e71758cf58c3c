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

import torch

from nbutils import engine
from nbutils.methods.steps import STATISTICS_ROWS
from nbutils.runtime import substream


def retain_sgd(model, X, y, *, steps, lr, batch_size, generator, clip=None, sigma=0.0, l2=0.0):
    """A copy of ``model`` after ``steps`` SGD steps on (X, y), each model on its own batches.

    Each step: theta <- theta - lr * mean_b clip(g_b + l2 * theta) + sigma * N(0, I), where g_b is row b's
    cross-entropy gradient and clip scales a row's gradient to norm at most ``clip`` (None: no clipping;
    a number, or a (K,) tensor of one bound per model).
    Every step draws its own dropout masks. Batches are drawn up front, so the same generator
    state gives the same batches whatever sigma is. Each step is :func:`clipped_gradient` on the engine
    (:mod:`nbutils.engine`); on CPU, groups of blocks of models step side by side in processes of their own
    (:func:`nbutils.engine.side_by_side`), each block drawing its masks and noise from a stream of its own,
    ``engine.MASK_BYTES`` at a time.
    """
    out = copy.deepcopy(model)
    out.eval()
    k, width = out.n_models, sum(out.hidden_sizes)
    batches = engine.batches(k, len(X), steps, batch_size, generator)
    tensors = list(out.parameters())
    n_params = sum(t[0].numel() for t in tensors)  # per model
    per_draw = engine.masks_per_draw(k, batch_size, width, 4 * k * n_params if sigma else 0)
    if clip is not None:
        clip = torch.as_tensor(clip, dtype=torch.float32, device=X.device).expand(k).unsqueeze(1)  # (K, 1)

    groups = engine.model_groups(k, batch_size, X.device)
    streams = engine.block_streams(groups, generator)

    def run_group(group):
        blocks = [(engine.Block(block, streams[block.start], out, batch_size, per_draw), engine.Stack.of(out, block))
                  for block in group]
        sgd = [engine.SGD(stack.params, stack.grads, lr, zero_grads=False) for _, stack in blocks]
        for first in range(0, steps, per_draw):
            rows_chunk = batches[first:first + per_draw]
            noise = []
            for block, _ in blocks:  # this chunk's masks, then noise, from each block's own stream
                block.draw_bits(len(rows_chunk), batch_size)
                if sigma:
                    noise.append(torch.randn(len(rows_chunk), block.size * n_params, generator=block.stream,
                                             device=X.device))
            for j, rows in enumerate(rows_chunk):  # rows: (K, B)
                for i, (block, stack) in enumerate(blocks):
                    clipped_gradient(stack, *engine.gather(X, y, rows[block.models]), block.keep(j, batch_size),
                                     None if clip is None else clip[block.models], l2)
                    sgd[i].step()
                    if sigma:
                        torch._foreach_add_(stack.params, unstack_noise(noise[i][j], block.size), alpha=sigma)

    def unstack_noise(flat, size):
        """Views of one step's noise for ``size`` models, drawn flat, shaped like their parameters."""
        return [v.view(size, *t.shape[1:]) for v, t in zip(flat.split([size * t[0].numel() for t in tensors]), tensors)]

    with torch.no_grad():
        engine.side_by_side(groups, tensors, run_group)
    return out


def row_deltas(stack, X, y, keep, row_weight=1.0):
    """Forward (running statistics) and each row's deltas of its own cross-entropy times ``row_weight``:
    (cache, deltas, logits (K, C, B))."""
    logits, cache = stack.forward(X, keep)
    d = logits.softmax(dim=1)
    d.scatter_add_(1, y.unsqueeze(1), torch.full((y.shape[0], 1, X.shape[1]), -1.0, device=X.device))  # - one_hot
    d = d.transpose(1, 2)  # (K, B, C), as the other deltas
    if row_weight != 1.0:
        d.mul_(row_weight)  # the deltas below inherit the weight
    return cache, stack.deltas(cache, d), logits


def clipped_gradient(stack, X, y, keep, clip=None, l2=0.0):
    """Into ``stack.grads``: mean over rows of each row's (clipped) gradient g_b + l2 * theta; X (K, B, F),
    y (K, B), keep (K, B, sum(hidden)) boolean (True: kept), or None; clip None or (K, 1), one bound per model.

    With BatchNorm frozen each row's loss is its own, so every row's gradient is an outer product of its deltas
    and its layer inputs; clipping weighs each row by min(1, clip / its gradient norm) before the sums
    (:mod:`nbutils.methods.gradients` has the algebra). Clipped, the L2 term contributes
    l2 * theta * mean_b(w_b), w_b = min(1, clip / |g_b + l2 * theta|)."""
    B = X.shape[1]
    cache, deltas, logits = row_deltas(stack, X, y, keep, 1 / B if clip is None else 1.0)  # unclipped: weigh 1/B
    coef = l2  # weight of theta in the mean gradient, per model
    if clip is not None:
        weights = (clip / stack.row_norms(cache, deltas, logits, l2).clamp(min=1e-12)).clamp(max=1).div_(B)  # (K, B)
        if l2:
            coef = l2 * weights.sum(dim=1)  # (K,)
        weights = weights.unsqueeze(2)  # (K, B, 1)
        for t in (*deltas[0], *deltas[1]):
            t.mul_(weights)
    stack.sum_rows(cache, deltas)
    if l2:
        for p, g in zip(stack.params, stack.grads):
            g.add_(p * (coef.view(-1, *[1] * (p.dim() - 1)) if torch.is_tensor(coef) else coef))


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
    k = model.n_models
    chunk = max(1, engine.MASK_BYTES // (4 * k * max(sum(model.hidden_sizes), X.shape[1])))
    stack = engine.Stack.of(model)
    norms = []
    with torch.no_grad():
        for first in range(0, len(X), chunk):
            Xc, yc = X[first:first + chunk], y[first:first + chunk]
            keep = engine.keep_mask(model, len(Xc), generator)
            cache, deltas, logits = row_deltas(stack, Xc.expand(k, -1, -1), yc.expand(k, -1), keep)
            norms.append(stack.row_norms(cache, deltas, logits, l2))
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
