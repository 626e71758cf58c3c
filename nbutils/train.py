"""Training K models at once: the seed's Adam and cross-entropy, vectorised over models, on :mod:`nbutils.engine`.

The stacked model is small enough that autograd's bookkeeping, strided batch slices and float dropout masks
cost more than its arithmetic (``benchmarks/README.md`` has the measurements). So a training step is written
out: the engine's forward pass with batch statistics, the exact gradients of every model's mean cross-entropy
(logits' gradient (softmax - one_hot) / B), BatchNorm's running statistics, and one fused Adam update over the
parameters' slices of a block of models.
"""

import time

import torch
from tqdm import tqdm

from nbutils import engine
from nbutils.model import MLPEnsemble


class _Step:
    """One training step of a block of models: forward, exact backward into ``adam.grads``, running statistics,
    Adam."""

    def __init__(self, model, lr, models=slice(None)):
        """Trains the block of models ``models`` (a slice of the ensemble) with Adam at learning rate ``lr``."""
        self.stack = stack = engine.Stack.of(model, models)
        self.adam = engine.Adam(stack.params, stack.grads, lr, zero_grads=False)  # every step overwrites them
        self._minus_one = {}

    def __call__(self, X, y, keep, loss_sum):
        """X (K, B, F) contiguous, y (K, B), keep (K, B, sum(hidden)) boolean (True: kept), or None; adds each
        model's mean loss to ``loss_sum`` (K,)."""
        B = X.shape[1]
        logits, cache = self.stack.forward(X, keep, batch_statistics=True)  # (K, C, B)
        log_p = logits.log_softmax(dim=1)
        target = y.unsqueeze(1)  # (K, 1, B)
        loss_sum.sub_(log_p.gather(1, target).sum(dim=(1, 2)), alpha=1 / B)
        if B not in self._minus_one:
            self._minus_one[B] = torch.full(target.shape, -1.0, device=X.device)
        d = log_p.exp_().scatter_add_(1, target, self._minus_one[B]).mul_(1 / B)  # (softmax - one_hot) / B
        self.stack.backward(cache, d)
        self.stack.update_running_statistics(cache)
        self.adam.step()


def train_ensemble(model, X, y, *, epochs, batch_size, lr, generator, progress=False):
    """Train every model of ``model`` on (X, y), each with its own shuffling and dropout.

    Each model sees the data in its own random order, in mini-batches of ``batch_size`` rows gathered
    step by step into one contiguous (model, row, feature) block. Dropout masks are drawn as 16-bit integers
    (:func:`nbutils.engine.keep_bits`) for up to ``engine.MASK_BYTES`` of steps at a time, so memory stays
    bounded on large tables. A final batch of a single row is skipped, since BatchNorm cannot train on it.
    Each model's gradient is that of its own mean cross-entropy, and Adam's update is elementwise, so each
    model's training is what it would be alone. On CPU the models are split into blocks, and groups of
    blocks train side by side in forked processes, one core each (:func:`nbutils.engine.model_groups`). Each
    block shuffles and draws its dropout bits from a stream of its own, derived from one draw of ``generator``, so the
    numbers do not depend on how the blocks are grouped, nor on the thread count.

    Returns the mean training loss per model and epoch, an array of shape (K, epochs).
    """
    n, k = len(X), model.n_models
    starts = [s for s in range(0, n, batch_size) if n - s > 1]  # a last batch of one row: BatchNorm cannot train
    per_draw = engine.masks_per_draw(k, batch_size, sum(model.hidden_sizes))  # steps whose masks are drawn at once
    groups = engine.model_groups(k, batch_size, X.device)
    streams = engine.block_streams(groups, generator)
    losses = torch.zeros(k, epochs, device=X.device)

    def train_group(group):
        """Train ``group``'s blocks of models, each from its own random stream; returns their losses."""
        blocks = [_Block(model, lr, block, streams[block.start], batch_size, per_draw) for block in group]
        for epoch in range(epochs):
            for block in blocks:
                block.shuffle(n)
            for first in range(0, len(starts), per_draw):
                chunk = starts[first:first + per_draw]
                for block in blocks:
                    block.draw_bits(len(chunk), batch_size)
                for j, begin in enumerate(chunk):
                    for block in blocks:
                        rows = block.order[:, begin:begin + batch_size]
                        block.step(*engine.gather(X, y, rows), block.keep(j, rows.shape[1]), losses[block.models, epoch])
            if group is groups[0]:  # this process's group
                bar.update()
        return [losses[block] for block in group]

    model.train()
    with torch.no_grad(), tqdm(total=epochs, desc="training", unit="epoch", disable=not progress, leave=False,
                               mininterval=2) as bar:
        done = engine.side_by_side(groups, [*model.parameters(), *model.buffers()], train_group)
    for group, group_losses in zip(groups, done):
        for block, block_losses in zip(group, group_losses):
            losses[block] = block_losses
    model.eval()
    return (losses / len(starts)).cpu().numpy()


class _Block(engine.Block):
    """One block of models in training: an engine block with its :class:`_Step` and each epoch's shuffle."""

    def __init__(self, model, lr, models, stream, batch_size, per_draw):
        super().__init__(models, stream, model, batch_size, per_draw)
        self.step = _Step(model, lr, models)
        self.order = None

    def shuffle(self, n):
        """Each model's order of the n rows for the next epoch, (models, n)."""
        self.order = engine.permutations(self.size, n, self.stream)


def fit_ensemble(params, X, y, n_models, generator, progress=True):
    """Build ``n_models`` fresh models as the parameters describe and train them on (X, y).

    Returns (model, losses of shape (K, epochs), seconds).
    """
    start = time.perf_counter()
    model = MLPEnsemble(n_models, X.shape[1], params["hidden_sizes"], params["n_classes"], params["dropout"], generator)
    losses = train_ensemble(model, X, y, epochs=params["epochs"], batch_size=params["batch_size"],
                            lr=params["learning_rate"], generator=generator, progress=progress)
    return model, losses, time.perf_counter() - start
