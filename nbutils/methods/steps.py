"""What the baselines share: their parameters as one buffer on the engine, their optimisers, their losses.

The field's baselines (NegGrad+, SCRUB, SalUn, ...) differ in their losses, not in their networks. Each loss
here is written as its gradient with respect to the logits, (K, B, C), which :mod:`nbutils.engine` takes back
through the stacked MLP. :func:`network` lays every parameter of every model out in one (K, P) buffer, row k
being model k's P parameters, so that elementwise optimizers, gradient masks (SalUn, MSG, CF-k) and per-model
rankings (a mask's top fraction) act on it directly.

Each method's BatchNorm does what its authors' code does (its docstring says which): in training mode
its steps normalise with the batch's statistics and move the running ones, forget batches included; in
evaluation mode they normalise with the running statistics and leave them bit for bit, as the project's
fine-tuning does. Dropout is on in both, as in training. Learning rates tuned by the authors for their batch
size are rescaled to ``finetune_batch_size`` (:func:`rescaled_lr`).

Randomness: a method splits its generator into named streams (:func:`nbutils.runtime.streams`), so retain
batches, forget batches, random labels and re-initialisations are drawn independently, and two methods that
read the same stream name get the same draws (NegGrad+ at alpha = 1 and fine-tuning see the same retain batches).
"""

import copy
import math

import torch
import torch.nn.functional as F

from nbutils import engine
from nbutils.engine import keep_mask
from nbutils.model import MLPEnsemble

MOMENTUM = 0.9  # SGD's momentum in every baseline's public code that uses SGD


def rescaled_lr(lr, authors_batch, batch, optimiser="sgd"):
    """A learning rate tuned for ``authors_batch`` rows a step, for ``batch`` rows: linear scaling for SGD
    (Goyal et al., 2017: the same movement per epoch), the square root of the ratio for Adam (Malladi et al.,
    NeurIPS 2022)."""
    ratio = batch / authors_batch
    return lr * (ratio if optimiser == "sgd" else math.sqrt(ratio))


def step_decay(lr, milestones, counted_from):
    """``lr_at(epoch)`` (epoch from 0) of the SCRUB code's ``adjust_learning_rate``: ``lr`` times 0.1 for each
    milestone the epoch is past, the epoch counted from ``counted_from`` (SCRUB's loops count from 1,
    DeepUnlearn's from 0)."""
    return lambda epoch: lr * 0.1 ** sum(epoch + counted_from > m for m in milestones)


def network(model):
    """A copy of ``model``, in evaluation mode, as an engine stack over one (K, P) buffer (:meth:`Stack.flat`)."""
    return engine.Stack.flat(copy.deepcopy(model).eval())


def sgd(net, lr, weight_decay=0.0, mask=None, momentum=MOMENTUM):
    """torch.optim.SGD (momentum 0.9 unless told) on ``net``'s buffer; ``mask`` (1 or K, P) multiplies every
    update."""
    return engine.SGD([net.flat_params], [net.flat_grads], lr, momentum, weight_decay,
                      None if mask is None else [mask])


def adam(net, lr):
    """torch.optim.Adam (no weight decay) on ``net``'s buffer."""
    return engine.Adam([net.flat_params], [net.flat_grads], lr)


def layer_mask(net, first):
    """(1, P) of 1 on Linear layers ``first`` and above and the BatchNorms after them, 0 elsewhere."""
    parts = [torch.full((1, t[0].numel()), float(int(name.split(".")[1]) >= first), device=t.device)
             for name, t in zip(net.names, net.tensors)]
    return torch.cat(parts, dim=1)


GRADIENT_ROWS = 8192  # rows per forward pass when a method takes a gradient over a whole set


def mean_gradient(net, X, y, scale=1.0):
    """Add to ``net``'s gradients ``scale`` times the gradient of each model's mean cross-entropy over the shared
    rows (X, y), ``GRADIENT_ROWS`` at a time; BatchNorm on its running statistics, no dropout."""
    k = net.model.n_models
    for start in range(0, len(X), GRADIENT_ROWS):
        Xc, yc = X[start:start + GRADIENT_ROWS], y[start:start + GRADIENT_ROWS]
        net.gradient(Xc.expand(k, *Xc.shape), lambda z: ce_grad(z, yc.expand(k, -1), scale * len(Xc) / len(X)))


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
    """Evaluation-mode logits (K, n, C) of every model for the shared rows X (n, F), ``GRADIENT_ROWS`` at a time
    (at once, 720,000 rows' activations took gigabytes)."""
    model.eval()
    with torch.no_grad():
        chunks = [model(X[i:i + GRADIENT_ROWS]) for i in range(0, len(X), GRADIENT_ROWS)]
        return torch.cat(chunks, dim=2).transpose(1, 2).contiguous()


def fresh_model(model, generator):
    """A newly initialised ensemble of ``model``'s architecture, drawn from ``generator``."""
    first = model.linears[0].weight
    n_classes = model.linears[-1].weight.shape[1]
    return MLPEnsemble(model.n_models, first.shape[2], model.hidden_sizes, n_classes, model.dropout, generator)


STATISTICS_ROWS = 16_384  # retain rows the recomputed BatchNorm statistics come from, at most


@torch.no_grad()
def retain_statistics(model, X_retain, generator):
    """Set every BatchNorm's running mean and variance to those of its input over the retain rows, in place.

    As in training, each BatchNorm sees the layer below with dropout on (the mask drawn from ``generator``):
    training's running statistics average batch means and unbiased batch variances of dropped-out
    activations, whose expectations are the mean and variance over all rows computed here.
    """
    X = X_retain[:STATISTICS_ROWS]
    saved = [norm.momentum for norm in model.norms]
    for norm in model.norms:
        norm.momentum = 1.0  # running statistics := this pass's
    model.train()
    model(X, keep_mask(model, len(X), generator))
    model.eval()
    for norm, momentum in zip(model.norms, saved):
        norm.momentum = momentum
    return model
