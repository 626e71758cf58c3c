"""K independent copies of the seed's tabular MLP, held as stacked tensors.

Every parameter carries a leading model axis, so one ``baddbmm`` runs the
Linear layer of all K models and one ``F.batch_norm`` call normalises all of
them. Activations are laid out ``(model, feature, batch)``; viewed as
``(1, model * feature, batch)`` they give each (model, feature) pair its own
batch statistics and its own running mean and variance, exactly as K separate
``nn.BatchNorm1d`` layers would, without copying. We chose stacked tensors over
``torch.func`` (``vmap`` + ``functional_call``) because ``vmap`` cannot update
BatchNorm's running statistics in place and pays dispatch overhead per op,
which is most of the cost for these tiny layers. K = 1 is the ordinary model.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from nbutils import cost


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

    def forward(self, x):
        """x: (K, in, B), or (B, in) shared by all models -> (K, out, B)."""
        cost.forward([self.weight], x.shape[0] if x.dim() == 2 else x.shape[-1])
        if x.dim() == 2:
            return torch.matmul(self.weight, x.T) + self.bias
        return torch.baddbmm(self.bias, self.weight, x)


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

    def forward(self, x):
        """x: (K, F, B) -> (K, F, B), normalised over the batch per model and feature."""
        out = F.batch_norm(
            x.view(1, -1, x.shape[-1]),
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.view(-1),
            self.bias.view(-1),
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
        return out.view(x.shape)


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

    def forward(self, x, keep_masks=None):
        """Logits (K, C, B) for x of shape (K, F, B) (one batch per model) or (B, F) (shared by all).

        ``keep_masks`` are dropout masks from :func:`nbutils.engine.draw_keep_masks`, one (K, h, B)
        tensor per hidden layer; without them no dropout is applied (evaluation).
        """
        h = x
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms)):
            h = F.relu(norm(linear(h)))
            if keep_masks is not None:
                h = h * keep_masks[i]
        return self.linears[-1](h)

    def select(self, models):
        """The models a slice selects, as an ensemble of their own (a copy)."""
        part = copy.deepcopy(self)
        with torch.no_grad():
            for t in [*part.parameters(), *part.buffers()]:
                t.data = t.data[models].clone()
        part.n_models = len(range(self.n_models)[models])
        return part
