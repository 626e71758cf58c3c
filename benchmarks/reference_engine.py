"""Today's engine, frozen as the reference ``make bench`` measures the new one against (issue 15).

A verbatim copy of ``train_ensemble`` from nbutils/train.py as of commit 713ff6d: autograd through the stacked
model's forward (``MLPEnsemble``, whose forward is unchanged), activations laid out (model, feature, batch) for a
segment of batches with each batch a strided slice, float dropout masks, ``torch.optim.Adam(fused=True)``.
It trains the same ``MLPEnsemble`` objects, so the two engines start from identical weights.
"""

import torch
import torch.nn.functional as F

from nbutils.model import draw_keep_masks

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
                logits = model(X_part[:, :, batch], [m[:, :, batch] for m in masks])
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
    import copy

    from nbutils.methods.finetune import batch_indices
    from nbutils.methods.gradients import cross_entropy_grad, deltas, forward_pieces, squared_norms, weighted_sums

    out = copy.deepcopy(model)
    out.eval()
    batches = batch_indices(out.n_models, len(X), steps, batch_size, generator)
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
