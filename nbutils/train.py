"""Training K models at once: the seed's Adam and cross-entropy, vectorised over models, with a hand-written backward.

The stacked model is small enough that autograd's bookkeeping, strided batch slices and float dropout masks
cost more than its arithmetic (``benchmarks/README.md`` has the measurements). So a training step here is
written out: one forward pass that keeps what the backward needs, the exact gradients of every model's mean
cross-entropy, and one fused Adam update over the parameters' slices of a block of models.

Activations are laid out (model, row, feature). Per hidden layer, with z = a W^T, mu and var its batch mean and
biased variance, x = (z - mu) / sqrt(var + eps), y = gamma x + beta and a' = relu(y) * keep / (1 - p), the
backward from da' is

    dy = da' * keep / (1 - p) * [y > 0]                  (one ``threshold_backward`` on a')
    dgamma = sum_b dy x,   dbeta = sum_b dy
    dz = gamma / sqrt(var + eps) * (dy - (dbeta + x dgamma) / B)
    dW = dz^T a,   da = dz W

and the hidden Linear layers' biases get gradient 0: BatchNorm subtracts the batch mean, so in training mode
they cancel exactly. (Autograd returns rounding noise of about 1e-8 for them, which Adam, dividing by its own
tiny second moment, turns into random steps of up to the learning rate; here they stay where they started.
They change no training-mode output, and none in evaluation either, since the running mean tracks z + b.)
The head is logits = W a + b with d logits = (softmax - one_hot) / B.
"""

import math
import time

import torch
from tqdm import tqdm

from nbutils import cost, runtime
from nbutils.model import MLPEnsemble, keep_threshold, random_int16

BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as the seed uses them


MODELS_PER_PASS = 64  # on CPU, a step runs over blocks of at most this many models: their working set stays in cache
PARALLEL_BLOCKS = True  # on CPU, processes train groups of blocks side by side (False: one process)
ROWS_PER_BLOCK = 512  # a second block (and process) only from 2 x 512 model-rows a step: below, mostly fixed costs
MASK_BYTES = 16 * 2**20  # dropout bits drawn at once, at most (unless one step needs more)


class FusedAdam:
    """Adam on a list of tensors (here: one block of models' slices of every parameter), updated in place.

    One fused kernel (``torch._fused_adam_``, what ``torch.optim.Adam(fused=True)`` calls) updates them all;
    where a device has none, the same update with ``torch._foreach`` ops. ``grads`` are the tensors a step
    writes its gradients into. The update is elementwise, so each model's is the one it would get alone.
    """

    def __init__(self, params, lr):
        self.params = list(params)
        self.grads = [torch.zeros_like(p) for p in self.params]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = torch.zeros((), device=self.params[0].device)
        self.lr, self.t, self.fused = lr, 0, True

    def step(self):
        self.t += 1
        self.step_count.fill_(self.t)
        if self.fused:
            try:
                torch._fused_adam_(self.params, self.grads, self.exp_avg, self.exp_avg_sq, [],
                                   [self.step_count] * len(self.params), lr=self.lr, beta1=BETAS[0],
                                   beta2=BETAS[1], weight_decay=0.0, eps=ADAM_EPS, amsgrad=False, maximize=False)
                return
            except (RuntimeError, NotImplementedError):  # no fused kernel for this device or build
                self.fused = False
        torch._foreach_lerp_(self.exp_avg, self.grads, 1 - BETAS[0])
        torch._foreach_mul_(self.exp_avg_sq, BETAS[1])
        torch._foreach_addcmul_(self.exp_avg_sq, self.grads, self.grads, value=1 - BETAS[1])
        denom = torch._foreach_sqrt(torch._foreach_div(self.exp_avg_sq, 1 - BETAS[1] ** self.t))
        torch._foreach_add_(denom, ADAM_EPS)
        torch._foreach_addcdiv_(self.params, self.exp_avg, denom, value=-self.lr / (1 - BETAS[0] ** self.t))


class _Step:
    """One training step of every model: forward, exact backward into ``adam.grads``, running statistics, Adam.

    Activations are laid out (model, row, feature): BatchNorm's sums over rows then run along the feature axis,
    vectorised, where ``torch.var_mean`` and ``F.batch_norm`` on the transposed layout take 10 to 50 times
    longer on CPU for these shapes (``benchmarks/README.md``).
    """

    def __init__(self, model, lr, models=slice(None)):
        """Trains the block of models ``models`` (a slice of the ensemble) with Adam at learning rate ``lr``."""
        names, tensors = zip(*model.named_parameters())
        self.adam = adam = FusedAdam([t.detach()[models] for t in tensors], lr)
        views, grads = dict(zip(names, adam.params)), dict(zip(names, adam.grads))
        n_hidden = len(model.norms)
        self.W = [views[f"linears.{i}.weight"] for i in range(n_hidden + 1)]  # (K, out, in)
        self.gW = [grads[f"linears.{i}.weight"] for i in range(n_hidden + 1)]
        self.b = [views[f"linears.{i}.bias"].transpose(1, 2) for i in range(n_hidden + 1)]  # (K, 1, out)
        self.gb_head = grads[f"linears.{n_hidden}.bias"].squeeze(-1)  # (K, C)
        self.b_head = views[f"linears.{n_hidden}.bias"]  # (K, C, 1)
        self.gamma = [views[f"norms.{i}.weight"].unsqueeze(1) for i in range(n_hidden)]  # (K, 1, h)
        self.beta = [views[f"norms.{i}.bias"].unsqueeze(1) for i in range(n_hidden)]
        self.g_gamma = [grads[f"norms.{i}.weight"].unsqueeze(1) for i in range(n_hidden)]
        self.g_beta = [grads[f"norms.{i}.bias"].unsqueeze(1) for i in range(n_hidden)]
        self.running_mean = [n.running_mean[models].unsqueeze(1) for n in model.norms]
        self.running_var = [n.running_var[models].unsqueeze(1) for n in model.norms]
        self.momentum, self.eps = model.norms[0].momentum, model.norms[0].eps
        self.hidden_sizes = model.hidden_sizes
        self.scale = 1 / (1 - model.dropout) if model.dropout else 1.0
        self._minus_one = {}

    def __call__(self, X, y, keep, loss_sum):
        """X (K, B, F) contiguous, y (K, B), keep (K, B, sum(hidden)) boolean (True: kept), or None; adds each
        model's mean loss to ``loss_sum`` (K,)."""
        B, scale = X.shape[1], self.scale
        cost.forward(self.W, B), cost.backward(self.W, B)
        keeps = keep.split(self.hidden_sizes, dim=2) if keep is not None else [None] * len(self.gamma)
        acts, centred, inv_stds, means, variances = [X], [], [], [], []
        a = X
        for W, gamma, beta, k in zip(self.W, self.gamma, self.beta, keeps):
            z = torch.bmm(a, W.transpose(1, 2))  # (K, B, h); the bias cancels in BatchNorm, see the running mean
            mu = z.mean(dim=1, keepdim=True)
            x = z.sub_(mu)  # centred; normalised it is x * inv_std
            var = (x * x).mean(dim=1, keepdim=True)  # biased, as BatchNorm normalises with
            inv_std = (var + self.eps).rsqrt_()
            # relu(y) / (1 - p) = relu(y / (1 - p)): the dropout scale goes into the affine map's small factors
            a = torch.addcmul(beta * scale, x, gamma * inv_std * scale).relu_()
            if k is not None:
                a.mul_(k)  # boolean keep mask
            acts.append(a), centred.append(x), inv_stds.append(inv_std), means.append(mu), variances.append(var)

        # The head in (model, class, row) layout: softmax over a middle axis of 2 classes is 8 times faster
        logits = torch.baddbmm(self.b_head, self.W[-1], a.transpose(1, 2))  # (K, C, B)
        log_p = logits.log_softmax(dim=1)
        target = y.unsqueeze(1)  # (K, 1, B)
        loss_sum.sub_(log_p.gather(1, target).sum(dim=(1, 2)), alpha=1 / B)
        if B not in self._minus_one:
            self._minus_one[B] = torch.full(target.shape, -1.0, device=X.device)
        d = log_p.exp_().scatter_add_(1, target, self._minus_one[B]).mul_(1 / B)  # (softmax - one_hot) / B
        torch.bmm(d, a, out=self.gW[-1])
        torch.sum(d, dim=2, out=self.gb_head)
        d = torch.bmm(d.transpose(1, 2), self.W[-1])  # (K, B, h)

        for i in reversed(range(len(self.gamma))):
            x, inv_std = centred[i], inv_stds[i]
            dy = torch.ops.aten.threshold_backward(d, acts[i + 1], 0)  # still to be times 1/(1-p): in c below
            s_beta = dy.sum(dim=1, keepdim=True)
            s_x = (dy * x).sum(dim=1, keepdim=True)  # sum_b dy (x_hat / inv_std)
            torch.mul(s_beta, scale, out=self.g_beta[i])
            torch.mul(s_x * inv_std, scale, out=self.g_gamma[i])
            c = self.gamma[i] * inv_std * scale
            c_over_b = c * (-1 / B)
            # dz = c * (dy - (s_beta + x_hat * s_gamma) / B), with x_hat = x * inv_std and s_gamma = s_x * inv_std
            dz = torch.addcmul(c_over_b * s_beta, x, c_over_b * inv_std.square() * s_x).addcmul_(dy, c)
            torch.bmm(dz.transpose(1, 2), acts[i], out=self.gW[i])
            if i:
                d = torch.bmm(dz, self.W[i])

        m = self.momentum
        torch._foreach_lerp_(self.running_mean, torch._foreach_add(means, self.b[:-1]), m)
        torch._foreach_lerp_(self.running_var, torch._foreach_mul(variances, B / (B - 1)), m)
        self.adam.step()


def train_ensemble(model, X, y, *, epochs, batch_size, lr, generator, progress=False):
    """Train every model of ``model`` on (X, y), each with its own shuffling and dropout.

    Each model sees the data in its own random order, in mini-batches of ``batch_size`` rows gathered
    step by step into one contiguous (model, row, feature) block. Dropout masks are drawn as 16-bit integers
    (see :func:`nbutils.model.draw_keep_masks`) for up to ``MASK_BYTES`` of steps at a time, so memory stays
    bounded on large tables. A final batch of a single row is skipped, since BatchNorm cannot train on it.
    Each model's gradient is that of its own mean cross-entropy, and Adam's update is elementwise, so each
    model's training is what it would be alone. On CPU the models are split into blocks, and groups of
    blocks train side by side in forked processes, one core each (:func:`model_groups`). Each block shuffles
    and draws its dropout bits from a stream of its own, derived from one draw of ``generator``, so the
    numbers do not depend on how the blocks are grouped, nor on the thread count.

    Returns the mean training loss per model and epoch, an array of shape (K, epochs).
    """
    n, k = len(X), model.n_models
    starts = [s for s in range(0, n, batch_size) if n - s > 1]  # a last batch of one row: BatchNorm cannot train
    width, p = sum(model.hidden_sizes), model.dropout
    threshold = keep_threshold(p)
    per_draw = max(1, MASK_BYTES // (2 * k * batch_size * width))  # steps whose masks are drawn at once
    groups = model_groups(k, batch_size, X.device)
    streams = block_streams(groups, generator)
    losses = torch.zeros(k, epochs, device=X.device)

    def train_group(group):
        """Train ``group``'s blocks of models, each from its own random stream; returns their losses."""
        blocks = [_Block(model, lr, block, streams[block.start], per_draw * batch_size * width) for block in group]
        for epoch in range(epochs):
            for block in blocks:
                block.shuffle(n)
            for first in range(0, len(starts), per_draw):
                chunk = starts[first:first + per_draw]
                if p:
                    for block in blocks:
                        block.draw_masks(len(chunk), batch_size, width)
                for j, begin in enumerate(chunk):
                    for block in blocks:
                        rows = block.order[:, begin:begin + batch_size]
                        keep = block.bits[j, :, :rows.shape[1]] >= threshold if p else None
                        index = rows.reshape(-1)
                        block.step(X.index_select(0, index).view(*rows.shape, -1),
                                   y.index_select(0, index).view(rows.shape), keep, losses[block.models, epoch])
            if group is groups[0]:  # this process's group
                bar.update()
        return [losses[block] for block in group]

    model.train()
    with torch.no_grad(), tqdm(total=epochs, desc="training", unit="epoch", disable=not progress, leave=False,
                               mininterval=2) as bar:
        done = side_by_side(groups, [*model.parameters(), *model.buffers()], train_group)
    for group, group_losses in zip(groups, done):
        for block, block_losses in zip(group, group_losses):
            losses[block] = block_losses
    model.eval()
    return (losses / len(starts)).cpu().numpy()


class _Block:
    """One block of models in training: its :class:`_Step`, its random stream, its shuffle and its dropout bits."""

    def __init__(self, model, lr, models, generator, mask_values):
        self.models, self.generator, self.size = models, generator, models.stop - models.start
        self.step = _Step(model, lr, models)
        self.buffer = torch.empty((mask_values * self.size + 3) // 4, dtype=torch.int64, device=generator.device)
        self.order = self.bits = None

    def shuffle(self, n):
        """Each model's order of the n rows for the next epoch, (models, n)."""
        self.order = torch.rand(self.size, n, generator=self.generator, device=self.generator.device).argsort(dim=1)

    def draw_masks(self, steps, batch_size, width):
        """Dropout bits for the next ``steps`` steps, (steps, models, batch_size, width)."""
        self.bits = random_int16(steps * self.size * batch_size * width, self.generator, self.buffer).view(
            steps, self.size, batch_size, width)


def block_streams(groups, generator):
    """Each block's random stream, keyed by its first model, all derived from one draw of ``generator``."""
    firsts = sorted(block.start for group in groups for block in group)
    return dict(zip(firsts, runtime.streams(generator, *firsts)))


def side_by_side(groups, tensors, work):
    """Run ``work(group)`` for every group of blocks of models, side by side (:func:`nbutils.runtime.fork_map`).

    ``work`` updates its blocks' slices of ``tensors`` in place, each block from a random stream of its own (so
    the numbers do not depend on how the blocks are grouped). Here, the trained slices are written back into
    ``tensors``, and what each ``work`` returned is returned.
    """
    def run(group):
        returned = work(group)
        return [[t.detach()[block].clone() for t in tensors] for block in group], returned

    results = runtime.fork_map(run, groups, len(groups))
    with torch.no_grad():
        for group, (trained, _) in zip(groups, results):
            for block, values in zip(group, trained):
                for t, value in zip(tensors, values):
                    t[block] = value
    return [returned for _, returned in results]


def model_groups(k, batch_size, device):
    """How K models that step on ``batch_size`` rows each train: a list of groups, one per process, each a list
    of contiguous blocks (slices).

    On CPU, blocks of at most ``MODELS_PER_PASS`` models, and at least two from 2 x ``ROWS_PER_BLOCK``
    model-rows a step (32 models of batch 32, 2 of batch 1024); the blocks depend on K and the batch size
    alone, so the thread count changes no number. They go to as many processes as torch may use threads
    (:func:`nbutils.runtime.workers_for`). Elsewhere one block holds every model.
    """
    if device.type != "cpu":
        return [[slice(0, k)]]
    count = max(math.ceil(k / MODELS_PER_PASS), 2 if k >= 2 and k * batch_size >= 2 * ROWS_PER_BLOCK else 1)
    size = math.ceil(k / count)
    blocks = [slice(first, min(first + size, k)) for first in range(0, k, size)]
    workers = runtime.workers_for(len(blocks), device) if PARALLEL_BLOCKS else 1
    return [blocks[w::workers] for w in range(workers)]


def fit_ensemble(params, X, y, n_models, generator, progress=True):
    """Build ``n_models`` fresh models as the parameters describe and train them on (X, y).

    Returns (model, losses of shape (K, epochs), seconds).
    """
    start = time.perf_counter()
    model = MLPEnsemble(n_models, X.shape[1], params["hidden_sizes"], params["n_classes"], params["dropout"], generator)
    losses = train_ensemble(model, X, y, epochs=params["epochs"], batch_size=params["batch_size"],
                            lr=params["learning_rate"], generator=generator, progress=progress)
    return model, losses, time.perf_counter() - start
