"""Per-example gradients of every model at once, BatchNorm on its running statistics, never materialised.

With BatchNorm on its running statistics each row's loss depends on that row alone, so the engine's backward
(:meth:`nbutils.engine.Stack.deltas`) holds every row's own gradient at each layer's output ("deltas").
A Linear layer's per-example weight gradient is then the outer product delta_b a_b^T of that delta and the
layer's input, so sums of squared per-example gradients (a diagonal Fisher) are sums over rows of squared
deltas times squared inputs: one forward and one backward pass for all K models and all rows.
"""

import torch

from nbutils import engine


def squared_sums(stack, cache, deltas):
    """Sum over rows of each per-example gradient squared, by parameter name, each shaped like the parameter."""
    linear_deltas, norm_deltas = deltas
    out = {}
    for i, (a, dz) in enumerate(zip(cache.acts, linear_deltas)):
        dz2 = dz.square()  # (K, B, out)
        out[f"linears.{i}.weight"] = torch.bmm(dz2.transpose(1, 2), a.square())
        out[f"linears.{i}.bias"] = dz2.sum(dim=1).unsqueeze(2)
    for i, (x, dy) in enumerate(zip(cache.normed, norm_deltas)):
        out[f"norms.{i}.weight"] = (dy * x).square().sum(dim=1)
        out[f"norms.{i}.bias"] = dy.square().sum(dim=1)
    return {name: out[name] for name in stack.names}


FISHER_ROWS = 8192  # rows per pass: per-example pieces are (K, rows, width), so memory stays bounded


def _mean_over_rows(sums_of, model, X, *rest):
    """Mean over the rows of X of ``sums_of(stack, cache, logits, *rest_chunks)``, a dict of per-parameter sums,
    from one forward pass per chunk of rows."""
    stack, total = engine.Stack.of(model), None
    with torch.no_grad():
        for start in range(0, len(X), FISHER_ROWS):
            chunk = X[start:start + FISHER_ROWS]
            logits, cache = stack.forward(chunk.expand(model.n_models, -1, -1))  # (K, C, B)
            part = sums_of(stack, cache, logits, *(a[start:start + FISHER_ROWS] for a in rest))
            total = part if total is None else {name: total[name] + s for name, s in part.items()}
    return {name: s / len(X) for name, s in total.items()}


def empirical_fisher(model, X, y):
    """Mean over rows of each per-example cross-entropy gradient squared (true labels), by parameter name."""

    def sums(stack, cache, logits, y):
        d = logits.softmax(dim=1).transpose(1, 2)  # (K, B, C)
        d[:, torch.arange(len(y), device=y.device), y] -= 1  # softmax - one_hot
        return squared_sums(stack, cache, stack.deltas(cache, d))

    return _mean_over_rows(sums, model, X, y)


def expected_fisher(model, X):
    """Diagonal Fisher information at rows X (B, F): mean over rows of sum_c p(c|x) (grad log p(c|x))^2.

    p is each model's own prediction (Golatkar et al.'s Fisher), so no labels are needed. Exact:
    one backward pass per class c, each row's logit gradient softmax - one_hot(c) scaled by sqrt p(c|x).
    """

    def sums(stack, cache, logits):
        probs = logits.softmax(dim=1).transpose(1, 2)  # (K, B, C)
        one_hot = torch.eye(probs.shape[2], device=probs.device)
        total = {name: 0 for name in stack.names}
        for c in range(probs.shape[2]):
            grad = (probs - one_hot[c]) * probs[:, :, c:c + 1].sqrt()
            for name, s in squared_sums(stack, cache, stack.deltas(cache, grad)).items():
                total[name] = total[name] + s
        return total

    return _mean_over_rows(sums, model, X)
