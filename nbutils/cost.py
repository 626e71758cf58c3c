"""The deterministic cost of unlearning: multiply-adds in the models' Linear layers, counted as they run.

Seconds depend on what else the machine is doing; this count does not, so budgets read it. One row through
one model forward costs the model's Linear weights (the sum of in × out over its layers). Its backward pass
costs them again for the weights' gradients, and again for the inputs' gradients of every layer but the
lowest one trained (a method that trains only the last layers stops there). Elementwise work (activations,
BatchNorm, dropout, noise draws, optimiser updates) is not counted: it grows with the parameters, not with
rows times weights, and is a few per cent of a training step. A method's ``cost_share`` is its count per
model over retraining's (:mod:`nbutils.evaluation`).

The count is per process; :func:`nbutils.runtime.fork_map` adds its workers' counts to the parent's.
"""

import contextlib

_count = [0]  # multiply-adds counted in this process so far


def total():
    """Multiply-adds counted in this process so far."""
    return _count[0]


def add(macs):
    """Count ``macs`` multiply-adds (a worker's, or a reused importance's)."""
    _count[0] += int(macs)


def row_macs(weights):
    """One row's multiply-adds through each model whose Linear weights are ``weights``, a list of (K, out, in)
    tensors, lowest layer first: (forward, [backward down to Linear layer ``first``, for each first]). A backward
    to ``first`` computes its weights' gradient there, not its input's."""
    sizes = [w.shape[-1] * w.shape[-2] for w in weights]
    k = weights[0].shape[0]
    return k * sum(sizes), [k * (sum(sizes[first:]) + sum(sizes[first + 1:])) for first in range(len(sizes))]


class Counted:
    """What :func:`counted` measured: ``macs``, the multiply-adds done inside the block."""

    macs = 0


@contextlib.contextmanager
def counted():
    """Yields a :class:`Counted` whose ``macs`` holds, once the block ends, the multiply-adds done inside it."""
    result, start = Counted(), total()
    try:
        yield result
    finally:
        result.macs = total() - start
