"""K independent copies of the seed's tabular MLP, held as stacked tensors.

Every parameter carries a leading model axis, so one ``baddbmm`` runs the Linear layer of all K models, and each
(model, feature) pair has its own BatchNorm statistics, exactly as K separate ``nn.BatchNorm1d`` layers would.
The modules hold the parameters and buffers (their names are the exported file's); the passes over them are
:mod:`nbutils.engine`'s. We chose stacked tensors over ``torch.func`` (``vmap`` + ``functional_call``) because
``vmap`` cannot update BatchNorm's running statistics in place and pays dispatch overhead per op, which is most
of the cost for these tiny layers. K = 1 is the ordinary model.
"""

import copy
import math

import torch
from torch import nn

from nbutils import engine


class StackedLinear(nn.Module):
    """K Linear layers; ``weight[k]`` is (out, in) as in ``nn.Linear``, ``bias`` is (K, out, 1)."""

    def __init__(self, n_models, in_features, out_features, generator):
        super().__init__()
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default initialisation

        def uniform(*shape):
            return torch.rand(*shape, generator=generator, device=generator.device) * 2 * bound - bound

        self.weight = nn.Parameter(uniform(n_models, out_features, in_features))
        self.bias = nn.Parameter(uniform(n_models, out_features, 1))

    def extra_repr(self):
        k, o, i = self.weight.shape
        return f"models={k}, in_features={i}, out_features={o}"


class StackedBatchNorm(nn.Module):
    """K BatchNorm1d layers with their own affine parameters and running statistics, each (K, F)."""

    def __init__(self, n_models, n_features, momentum=0.1, eps=1e-5, device=None):
        super().__init__()
        shape = (n_models, n_features)
        self.weight = nn.Parameter(torch.ones(shape, device=device))
        self.bias = nn.Parameter(torch.zeros(shape, device=device))
        self.register_buffer("running_mean", torch.zeros(shape, device=device))
        self.register_buffer("running_var", torch.ones(shape, device=device))
        self.momentum, self.eps = momentum, eps

    def extra_repr(self):
        k, f = self.weight.shape
        return f"models={k}, features={f}, momentum={self.momentum}, eps={self.eps}"


class MLPEnsemble(nn.Module):
    """K copies of the seed's classifier: (Linear, BatchNorm, ReLU, Dropout) per hidden layer, then Linear.

    Args:
        n_models: K, the number of independent models.
        n_features, hidden_sizes, n_classes, dropout: the architecture, as in the seed.
        generator: a ``torch.Generator`` for the initial weights; its device is the model's.
    """

    def __init__(self, n_models, n_features, hidden_sizes, n_classes, dropout, generator):
        super().__init__()
        sizes = [n_features, *hidden_sizes, n_classes]
        self.linears = nn.ModuleList(
            StackedLinear(n_models, a, b, generator) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.norms = nn.ModuleList(
            StackedBatchNorm(n_models, h, device=generator.device) for h in hidden_sizes
        )
        self.n_models, self.hidden_sizes, self.dropout = n_models, list(hidden_sizes), dropout

    def forward(self, x, keep=None):
        """Logits (K, C, B) for x of shape (K, B, F) (one batch per model) or (B, F) (shared by all), by the
        engine's forward pass (:class:`nbutils.engine.Stack`).

        In evaluation mode BatchNorm normalises with its running statistics; in training mode with the batch's,
        and moves the running ones as ``nn.BatchNorm1d`` does. ``keep`` is a (K, B, sum(hidden)) boolean dropout
        mask (True: kept), e.g. :func:`nbutils.engine.keep_mask`'s; without it no dropout is applied.
        """
        stack = engine.Stack.of(self, autograd=torch.is_grad_enabled())
        if x.dim() == 2:
            x = x.expand(self.n_models, -1, -1)
        logits, cache = stack.forward(x, keep, batch_statistics=self.training)
        if self.training:
            with torch.no_grad():  # the statistics are buffers, outside any gradient
                stack.update_running_statistics(cache)
        return logits

    def select(self, models):
        """The models a slice selects, as an ensemble of their own (a copy)."""
        part = copy.deepcopy(self)
        with torch.no_grad():
            for t in [*part.parameters(), *part.buffers()]:
                t.data = t.data[models].clone()
        part.n_models = len(range(self.n_models)[models])
        return part
