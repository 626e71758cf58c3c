"""Per-example gradients of every model at once, BatchNorm on its running statistics, never materialised.

With BatchNorm on its running statistics (and dropout, if any, from fixed masks)
each row's loss depends on that row alone, so the gradient of the summed loss with respect
to a layer's output holds every row's own gradient there ("deltas", (K, F, B)).
A Linear layer's per-example weight gradient is then the outer product
delta_b a_b^T of that delta and the layer's input, so sums of squared per-example
gradients (diagonal Fisher), per-example gradient norms (for clipping) and
weighted sums of per-example gradients are all einsums over deltas and inputs:
one forward and one backward pass for all K models and all rows.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nbutils import cost


@dataclass
class Pieces:
    """What one forward pass leaves for the per-example algebra, per hidden layer and for the head."""

    inputs: list  # input of each Linear layer, (K, in, B)
    normalised: list  # BatchNorm's normalised input x_hat of each hidden layer, (K, h, B)
    scales: list  # gamma / sqrt(running_var + eps) of each hidden layer, (K, h, 1)
    post_norm: list  # each BatchNorm output, (K, h, B): the graph nodes the deltas are taken at
    logits: torch.Tensor  # (K, C, B)
    weights: list  # each Linear layer's weight, (K, out, in): what a backward pass costs (:mod:`nbutils.cost`)


def forward_pieces(model, X, keep_masks=None):
    """Logits of every model for X, (K, F, B) or (B, F) shared, with their Pieces.

    BatchNorm uses its running statistics; ``keep_masks`` (from :func:`nbutils.model.draw_keep_masks`) apply
    dropout, which keeps each row's loss its own.
    """
    h = X if X.dim() == 3 else X.T.expand(model.n_models, -1, -1)
    pieces = Pieces([], [], [], [], None, [linear.weight for linear in model.linears])
    for i, (linear, norm) in enumerate(zip(model.linears, model.norms)):
        if keep_masks is not None and i > 0:
            h = h * keep_masks[i - 1]
        pieces.inputs.append(h)
        z = linear(h)
        inv_std = torch.rsqrt(norm.running_var + norm.eps)[..., None]
        x_hat = (z - norm.running_mean[..., None]) * inv_std
        y = norm.weight[..., None] * x_hat + norm.bias[..., None]
        pieces.normalised.append(x_hat.detach())
        pieces.scales.append((norm.weight[..., None] * inv_std).detach())
        pieces.post_norm.append(y)
        h = F.relu(y)
    if keep_masks is not None:
        h = h * keep_masks[-1]
    pieces.inputs.append(h)
    pieces.logits = model.linears[-1](h)
    return pieces


def deltas(pieces, output_grad):
    """Gradients of sum_b <output_grad_b, logits_b> at each BatchNorm output, and at the logits: (K, F, B) each.

    ``output_grad`` (K, C, B) is each row's gradient of its own loss with respect to its logits.
    """
    found = torch.autograd.grad(pieces.logits, pieces.post_norm, output_grad, retain_graph=True)
    cost.backward(pieces.weights, output_grad.shape[-1])
    return [*found, output_grad]


def _linear_deltas(pieces, d):
    """Deltas at each Linear output: through BatchNorm's affine map for the hidden layers, as is for the head."""
    return [dy * s for dy, s in zip(d[:-1], pieces.scales)] + [d[-1]]


def squared_sums(model, pieces, d):
    """Sum over rows of each per-example gradient squared, by parameter name, each shaped like the parameter."""
    out = {}
    for i, (a, dz) in enumerate(zip(pieces.inputs, _linear_deltas(pieces, d))):
        dz2 = dz.square()
        out[f"linears.{i}.weight"] = torch.einsum("kob,kib->koi", dz2, a.square())
        out[f"linears.{i}.bias"] = dz2.sum(dim=2, keepdim=True)
    for i, (x_hat, dy) in enumerate(zip(pieces.normalised, d[:-1])):
        out[f"norms.{i}.weight"] = (dy * x_hat).square().sum(dim=2)
        out[f"norms.{i}.bias"] = dy.square().sum(dim=2)
    return {name: out[name] for name, _ in model.named_parameters()}


def squared_norms(pieces, d):
    """Each row's squared gradient norm over all parameters of its model: (K, B)."""
    total = 0
    for a, dz in zip(pieces.inputs, _linear_deltas(pieces, d)):
        dz2 = dz.square().sum(dim=1)
        total = total + dz2 * a.square().sum(dim=1) + dz2
    for x_hat, dy in zip(pieces.normalised, d[:-1]):
        total = total + ((dy * x_hat).square() + dy.square()).sum(dim=1)
    return total


def weighted_sums(model, pieces, d, weights):
    """sum_b weights_b * (row b's gradient), weights (K, B), by parameter name, shaped like the parameters."""
    w = weights[:, None, :]
    out = {}
    for i, (a, dz) in enumerate(zip(pieces.inputs, _linear_deltas(pieces, d))):
        out[f"linears.{i}.weight"] = torch.einsum("kob,kib->koi", dz * w, a)
        out[f"linears.{i}.bias"] = (dz * w).sum(dim=2, keepdim=True)
    for i, (x_hat, dy) in enumerate(zip(pieces.normalised, d[:-1])):
        out[f"norms.{i}.weight"] = (dy * w * x_hat).sum(dim=2)
        out[f"norms.{i}.bias"] = (dy * w).sum(dim=2)
    return {name: out[name] for name, _ in model.named_parameters()}


def cross_entropy_grad(logits, y):
    """Each row's gradient of its cross-entropy with respect to its logits: softmax - one-hot, (K, C, B)."""
    probs = logits.detach().softmax(dim=1)
    return probs - F.one_hot(y, probs.shape[1]).transpose(-1, -2).to(probs.dtype)


FISHER_ROWS = 8192  # rows per pass: per-example pieces are (K, width, rows), so memory stays bounded


def _mean_over_rows(sums_of, X, *rest):
    """Mean over the rows of X of ``sums_of(X_chunk, *rest_chunks)``, a dict of per-parameter sums, in chunks."""
    total = None
    for start in range(0, len(X), FISHER_ROWS):
        part = {name: s.detach() for name, s in sums_of(*(a[start:start + FISHER_ROWS] for a in (X, *rest))).items()}
        total = part if total is None else {name: total[name] + s for name, s in part.items()}  # no graph kept
    return {name: s / len(X) for name, s in total.items()}


def empirical_fisher(model, X, y):
    """Mean over rows of each per-example cross-entropy gradient squared (true labels), by parameter name."""

    def sums(X, y):
        pieces = forward_pieces(model, X)
        return squared_sums(model, pieces, deltas(pieces, cross_entropy_grad(pieces.logits, y)))

    return _mean_over_rows(sums, X, y)


def expected_fisher(model, X):
    """Diagonal Fisher information at rows X (B, F): mean over rows of sum_c p(c|x) (grad log p(c|x))^2.

    p is each model's own prediction (Golatkar et al.'s Fisher), so no labels are needed. Exact:
    one backward pass per class c, each row's logit gradient softmax - one_hot(c) scaled by sqrt p(c|x).
    """

    def sums(X):
        pieces = forward_pieces(model, X)
        probs = pieces.logits.detach().softmax(dim=1)  # (K, C, B)
        one_hot = torch.eye(probs.shape[1], device=probs.device)
        total = {name: 0 for name, _ in model.named_parameters()}
        for c in range(probs.shape[1]):
            grad = (probs - one_hot[:, c:c + 1]) * probs[:, c:c + 1].sqrt()
            for name, s in squared_sums(model, pieces, deltas(pieces, grad)).items():
                total[name] = total[name] + s
        return total

    return _mean_over_rows(sums, X)
