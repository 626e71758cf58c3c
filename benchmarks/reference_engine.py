"""Today's engine, frozen as the reference ``make bench`` measures the new one against (issue 15).

A verbatim copy of ``train_ensemble`` from nbutils/train.py as of commit 713ff6d: autograd through the stacked
model's forward of that commit (:func:`forward`, frozen below with its dropout masks), activations laid out (model,
feature, batch) for a segment of batches with each batch a strided slice, float dropout masks,
``torch.optim.Adam(fused=True)``.
It trains the same ``MLPEnsemble`` objects, so the two engines start from identical weights. Its fine-tuning
step, :func:`retain_sgd`, keeps the per-example algebra of that commit's ``nbutils/methods/gradients.py``
(autograd for the deltas), frozen below.
"""

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nbutils import cost, engine
from nbutils.engine import keep_threshold, random_int16

SEGMENT_ROWS = 16_384


def _adam(params, lr):
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def train_ensemble(model, X, y, *, epochs, batch_size, lr, generator):
    """Train every model of ``model`` on (X, y) as the engine of 713ff6d did; returns losses (K, epochs)."""
    n, k = len(X), model.n_models
    optimizer = _adam(model.parameters(), lr)
    losses = torch.zeros(k, epochs, device=X.device)
    n_batches = len([s for s in range(0, n, batch_size) if n - s > 1])
    segment = batch_size * max(1, SEGMENT_ROWS // batch_size)
    model.train()
    for epoch in range(epochs):
        order = torch.rand(k, n, generator=generator, device=generator.device).argsort(dim=1)
        for first in range(0, n, segment):
            rows = order[:, first:first + segment]
            X_part = X[rows].transpose(1, 2).contiguous()
            y_part = y[rows]
            masks = draw_keep_masks(rows.shape[1], k, model.hidden_sizes, model.dropout, generator)
            for start in range(0, rows.shape[1], batch_size):
                if n - (first + start) < 2:
                    continue
                batch = slice(start, start + batch_size)
                logits = forward(model, X_part[:, :, batch], [m[:, :, batch] for m in masks])
                per_model = F.cross_entropy(logits, y_part[:, batch], reduction="none").mean(dim=1)
                optimizer.zero_grad(set_to_none=True)
                per_model.sum().backward()
                optimizer.step()
                losses[:, epoch] += per_model.detach()
    model.eval()
    return (losses / n_batches).cpu().numpy()


def retain_sgd(model, X, y, *, steps, lr, batch_size, generator, clip=None, sigma=0.0):
    """The shared fine-tuning step of 713ff6d (nbutils/methods/finetune.py): autograd for the deltas at each
    BatchNorm output, einsums over per-example pieces, one update per parameter tensor."""
    out = copy.deepcopy(model)
    out.eval()
    batches = engine.batches(out.n_models, len(X), steps, batch_size, generator)  # the draws batch_indices made
    params = dict(out.named_parameters())
    for rows in batches:
        masks = draw_keep_masks(batch_size, out.n_models, out.hidden_sizes, out.dropout, generator)
        pieces = forward_pieces(out, X[rows].transpose(1, 2), masks)
        d = deltas(pieces, cross_entropy_grad(pieces.logits, y[rows]))
        weights = torch.full(rows.shape, 1 / batch_size, device=X.device)
        if clip is not None:
            weights = weights * (clip / squared_norms(pieces, d).sqrt().clamp(min=1e-12)).clamp(max=1)
        grads = weighted_sums(out, pieces, d, weights)
        with torch.no_grad():
            for name, p in params.items():
                p.sub_(lr * grads[name])
                if sigma:
                    p.add_(torch.randn(p.shape, generator=generator, device=p.device) * sigma)
    return out


# nbutils/model.py's forward pass and dropout masks as of 713ff6d, frozen


def forward(model, x, keep_masks=None):
    """Logits (K, C, B) of x (K, F, B); BatchNorm in the module's mode (``F.batch_norm`` over all K models'
    features at once); ``keep_masks`` one (K, h, B) float mask per hidden layer, or None."""
    h = x
    for i, (linear, norm) in enumerate(zip(model.linears, model.norms)):
        z = _linear(linear, h)  # (K, h, B)
        z = F.batch_norm(z.reshape(1, -1, z.shape[-1]), norm.running_mean.view(-1), norm.running_var.view(-1),
                         norm.weight.view(-1), norm.bias.view(-1), training=model.training, momentum=norm.momentum,
                         eps=norm.eps).view(z.shape)
        h = F.relu(z)
        if keep_masks is not None:
            h = h * keep_masks[i]
    return _linear(model.linears[-1], h)


def _linear(linear, x):
    """x (K, in, B) -> (K, out, B), counted."""
    cost.add(cost.row_macs([linear.weight])[0] * x.shape[-1])
    return torch.baddbmm(linear.bias, linear.weight, x)


def draw_keep_masks(n_rows, n_models, hidden_sizes, p, generator):
    """Inverted-dropout masks (0 or 1/(1-p)), one (K, h, n_rows) tensor per hidden layer."""
    n = n_models * sum(hidden_sizes) * n_rows
    keep = random_int16(n, generator) >= keep_threshold(p)
    masks = (keep.to(torch.float32) * (1 / (1 - p))).view(n_models, sum(hidden_sizes), n_rows)
    return masks.split(hidden_sizes, dim=1)


# nbutils/methods/gradients.py as of 713ff6d, frozen


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

    BatchNorm uses its running statistics; ``keep_masks`` (from :func:`draw_keep_masks`) apply
    dropout, which keeps each row's loss its own.
    """
    h = X if X.dim() == 3 else X.T.expand(model.n_models, -1, -1)
    pieces = Pieces([], [], [], [], None, [linear.weight for linear in model.linears])
    for i, (linear, norm) in enumerate(zip(model.linears, model.norms)):
        if keep_masks is not None and i > 0:
            h = h * keep_masks[i - 1]
        pieces.inputs.append(h)
        z = _linear(linear, h)
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
    pieces.logits = _linear(model.linears[-1], h)
    return pieces


def deltas(pieces, output_grad):
    """Gradients of sum_b <output_grad_b, logits_b> at each BatchNorm output, and at the logits: (K, F, B) each.

    ``output_grad`` (K, C, B) is each row's gradient of its own loss with respect to its logits.
    """
    found = torch.autograd.grad(pieces.logits, pieces.post_norm, output_grad, retain_graph=True)
    cost.add(cost.row_macs(pieces.weights)[1][0] * output_grad.shape[-1])
    return [*found, output_grad]


def _linear_deltas(pieces, d):
    """Deltas at each Linear output: through BatchNorm's affine map for the hidden layers, as is for the head."""
    return [dy * s for dy, s in zip(d[:-1], pieces.scales)] + [d[-1]]


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
