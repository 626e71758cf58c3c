"""The one engine every gradient step runs on: a block of stacked MLPs, its optimisers, and its random draws.

:class:`Stack` is a block of models' parameters and gradients as (K, ...) views, with one forward pass and one
hand-written backward that takes any loss gradient at the logits. BatchNorm has two modes: batch statistics
(training; the backward then runs through the batch's mean and variance) and running statistics (unlearning;
each row's loss is then its own, so the backward also gives each row's deltas, from which per-row gradient
norms and clipped sums follow). :class:`Adam` and :class:`SGD` update lists of tensors in place. Training,
fine-tuning, the noise methods' gradients and every baseline run on these.

Activations are laid out (model, row, feature). Per hidden layer, with z = a W^T + b, x = (z - mu) * inv_std,
y = gamma x + beta and a' = relu(y) * keep / (1 - p), the backward from da' is

    dy = da' * keep / (1 - p) * [y > 0]                  (one ``threshold_backward`` on a')
    dgamma = sum_b dy x,   dbeta = sum_b dy
    dz = gamma inv_std dy                                  (running statistics: mu and inv_std are constants)
    dz = gamma inv_std (dy - (dbeta + x dgamma) / B)       (batch statistics: they are the batch's)
    dW = dz^T a,   db = sum_b dz,   da = dz W

With batch statistics the hidden Linear layers' biases get gradient 0: BatchNorm subtracts the batch mean, so
they cancel exactly. (Autograd returns rounding noise of about 1e-8 for them, which Adam, dividing by its own
tiny second moment, turns into random steps of up to the learning rate; here the loss never moves them, though an
optimiser's weight decay still does.) The
head is logits = W a + b, laid out (model, class, row): a softmax over a middle axis of 2 classes is 8 times
faster than over the last.

The block helpers at the end split K models into blocks that step side by side in forked processes, each block
drawing batches and dropout masks from a random stream of its own, so no number depends on the grouping.
"""

import functools
import math
from dataclasses import dataclass

import torch

from nbutils import cost, runtime

BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as the seed uses them
MODELS_PER_PASS = 64  # on CPU, a step runs over blocks of at most this many models: their working set stays in cache
PARALLEL_BLOCKS = True  # on CPU, processes step groups of blocks side by side (False: one process)
ROWS_PER_BLOCK = 512  # a second block (and process) only from 2 x 512 model-rows a step: below, mostly fixed costs
MASK_BYTES = 16 * 2**20  # dropout bits drawn at once, at most (unless one step needs more)
METHOD_BLOCKS, METHOD_BLOCK_ROWS = 2, 20_000  # a method splits its models in two blocks from this many retain rows


class Stack:
    """A block of K models' parameters and gradients, with forward and backward passes.

    ``params`` and ``grads`` are lists of (K, ...) tensors in the model's parameter order: views of the model's
    own tensors (:meth:`of`) or of one (K, P) buffer (:meth:`flat`, where masks and rankings over all of a
    model's parameters act on one tensor). ``param`` and ``grad`` are the same views by name.
    """

    def __init__(self, model, names, params, grads, models):
        self.model, self.names, self.params, self.grads = model, names, params, grads
        self.param, self.grad = dict(zip(names, params)), dict(zip(names, grads))
        n = self.n_hidden = len(model.norms)
        p, g = self.param, self.grad
        self.W = [p[f"linears.{i}.weight"] for i in range(n + 1)]  # (K, out, in)
        self.b = [p[f"linears.{i}.bias"].transpose(1, 2) for i in range(n)]  # (K, 1, out), the hidden layers'
        self.b_head = p[f"linears.{n}.bias"]  # (K, C, 1)
        self.gW = [g[f"linears.{i}.weight"] for i in range(n + 1)]
        self.gb = [g[f"linears.{i}.bias"].squeeze(-1) for i in range(n + 1)]  # (K, out)
        self.gamma = [p[f"norms.{i}.weight"].unsqueeze(1) for i in range(n)]  # (K, 1, h)
        self.beta = [p[f"norms.{i}.bias"].unsqueeze(1) for i in range(n)]
        self.g_gamma = [g[f"norms.{i}.weight"] for i in range(n)]  # (K, h)
        self.g_beta = [g[f"norms.{i}.bias"] for i in range(n)]
        self.running_mean = [norm.running_mean[models].unsqueeze(1) for norm in model.norms]  # (K, 1, h) views
        self.running_var = [norm.running_var[models].unsqueeze(1) for norm in model.norms]
        self.momentum, self.eps = model.norms[0].momentum, model.norms[0].eps
        self.hidden_sizes = model.hidden_sizes
        self.scale = 1 / (1 - model.dropout) if model.dropout else 1.0
        self.forward_macs, self.backward_macs = cost.row_macs(self.W)  # per row, once here, not every step
        self.refresh_statistics()

    @classmethod
    def of(cls, model, models=slice(None), autograd=False):
        """The block ``models`` (a slice) of ``model``: views of its own parameters, updated in place (with
        ``autograd``, views autograd tracks, so that a module's forward pass can be differentiated)."""
        names, tensors = zip(*model.named_parameters())
        params = [t[models] if autograd else t.detach()[models] for t in tensors]
        return cls(model, names, params, [torch.zeros_like(t) for t in params], models)

    @classmethod
    def flat(cls, model):
        """Every model of ``model`` as one (K, P) tensor ``flat_params``, row k model k's parameters, with its
        ``flat_grads`` (a copy; :meth:`result` writes it back)."""
        names, tensors = zip(*model.named_parameters())
        k = model.n_models
        flat_params = torch.cat([t.detach().reshape(k, -1) for t in tensors], dim=1)
        flat_grads = torch.zeros_like(flat_params)
        stack = cls(model, names, _views(flat_params, tensors), _views(flat_grads, tensors), slice(None))
        stack.flat_params, stack.flat_grads, stack.tensors = flat_params, flat_grads, tensors
        return stack

    def views(self, flat):
        """Views by name of a (K, P) tensor laid out as :meth:`flat`'s buffer."""
        return dict(zip(self.names, _views(flat, self.tensors)))

    def result(self):
        """The model with a :meth:`flat` stack's parameters written back (its BatchNorm statistics as they are)."""
        with torch.no_grad():
            for t, value in zip(self.tensors, self.params):
                t.copy_(value)
        return self.model

    def refresh_statistics(self):
        """Read BatchNorm's running statistics for the running-statistics mode (after they changed)."""
        self.mean = [m.clone() for m in self.running_mean]
        self.inv_std = [torch.rsqrt(v + self.eps) for v in self.running_var]

    def forward(self, X, keep=None, batch_statistics=False):
        """Logits (K, C, B) of X (K, B, F) and what the backward needs; ``keep`` (K, B, sum(hidden)) boolean
        (True: kept), or None (no dropout)."""
        B, scale = X.shape[1], self.scale if keep is not None else 1.0
        cost.add(self.forward_macs * B)
        keeps = keep.split(self.hidden_sizes, dim=2) if keep is not None else [None] * self.n_hidden
        acts, normed, inv_stds, means, variances = [X], [], [], [], []
        a = X
        for i, k in enumerate(keeps):
            if batch_statistics:
                z = torch.bmm(a, self.W[i].transpose(1, 2))  # the bias cancels in BatchNorm: see the running mean
                mu = z.mean(dim=1, keepdim=True)
                x = z.sub_(mu)  # centred; normalised it is x * inv_std
                var = (x * x).mean(dim=1, keepdim=True)  # biased, as BatchNorm normalises with
                inv_std = (var + self.eps).rsqrt_()
                # relu(y) / (1 - p) = relu(y / (1 - p)): the dropout scale goes into the affine map's small factors
                a = torch.addcmul(self.beta[i] * scale, x, self.gamma[i] * inv_std * scale).relu_()
                means.append(mu), variances.append(var)
            else:
                x = torch.baddbmm(self.b[i], a, self.W[i].transpose(1, 2)).sub_(self.mean[i]).mul_(self.inv_std[i])
                inv_std = self.inv_std[i]
                a = torch.addcmul(self.beta[i] * scale, x, self.gamma[i] * scale).relu_()
            if k is not None:
                a.mul_(k)
            acts.append(a), normed.append(x), inv_stds.append(inv_std)
        logits = torch.baddbmm(self.b_head, self.W[-1], a.transpose(1, 2))
        return logits, Cache(acts, normed, inv_stds, means, variances, keep is not None, batch_statistics)

    def backward(self, cache, d, first=0, accumulate=False):
        """The gradient of sum_k L_k into ``grads`` (added to them if ``accumulate``), given d = dL/dlogits
        (K, C, B). Only Linear layers ``first`` and above and the BatchNorms after them get gradients."""
        if not cache.batch_statistics:
            self.sum_rows(cache, self.deltas(cache, d.transpose(1, 2), first), first, accumulate)
            return
        cost.add(self.backward_macs[first] * d.shape[2])
        B, scale, acts = d.shape[2], self.scale if cache.dropout else 1.0, cache.acts
        _write(lambda out: torch.bmm(d, acts[-1], out=out), self.gW[-1], accumulate)
        _write(lambda out: torch.sum(d, dim=2, out=out), self.gb[-1], accumulate)
        d = torch.bmm(d.transpose(1, 2), self.W[-1])  # (K, B, h)
        for i in reversed(range(first, self.n_hidden)):
            x, inv_std = cache.normed[i], cache.inv_stds[i]
            dy = torch.ops.aten.threshold_backward(d, acts[i + 1], 0)  # still to be times 1/(1-p): in c below
            s_beta = dy.sum(dim=1, keepdim=True)
            s_x = (dy * x).sum(dim=1, keepdim=True)  # sum_b dy (x_hat / inv_std)
            _write(lambda out: torch.mul(s_beta, scale, out=out), self.g_beta[i].unsqueeze(1), accumulate)
            _write(lambda out: torch.mul(s_x * inv_std, scale, out=out), self.g_gamma[i].unsqueeze(1), accumulate)
            c = self.gamma[i] * inv_std * scale
            c_over_b = c * (-1 / B)
            # dz = c * (dy - (s_beta + x_hat * s_gamma) / B), with x_hat = x * inv_std and s_gamma = s_x * inv_std
            dz = torch.addcmul(c_over_b * s_beta, x, c_over_b * inv_std.square() * s_x).addcmul_(dy, c)
            _write(lambda out: torch.bmm(dz.transpose(1, 2), acts[i], out=out), self.gW[i], accumulate)
            if i > first:
                d = torch.bmm(dz, self.W[i])

    def update_running_statistics(self, cache):
        """BatchNorm's running statistics after a batch-statistics forward pass, as ``nn.BatchNorm1d`` does (the
        running-statistics mode reads them again only after :meth:`refresh_statistics`)."""
        B = cache.acts[0].shape[1]
        if B < 2:
            raise ValueError("BatchNorm cannot train on a batch of one row (its unbiased variance divides by B - 1)")
        torch._foreach_lerp_(self.running_mean, torch._foreach_add(cache.means, self.b), self.momentum)
        torch._foreach_lerp_(self.running_var, torch._foreach_mul(cache.variances, B / (B - 1)), self.momentum)

    def deltas(self, cache, d, first=0):
        """Running statistics: each row's deltas of its own loss, (linear_deltas, norm_deltas), from d (K, B, C),
        for Linear layers ``first`` and above (linear) and the BatchNorms after them (norm)."""
        cost.add(self.backward_macs[first] * d.shape[1])
        linear_deltas, norm_deltas = [d], []
        for i in reversed(range(first, self.n_hidden)):
            dy = torch.ops.aten.threshold_backward(torch.bmm(linear_deltas[0], self.W[i + 1]), cache.acts[i + 1], 0)
            if cache.dropout:
                dy.mul_(self.scale)  # where kept; threshold_backward zeroed the rest
            norm_deltas.insert(0, dy)
            linear_deltas.insert(0, dy * (self.gamma[i] * self.inv_std[i]))
        return linear_deltas, norm_deltas

    def sum_rows(self, cache, deltas, first=0, accumulate=False):
        """Into ``grads``: the sums over rows of each row's gradient, from :meth:`deltas` (each row already
        weighted as it should count)."""
        linear_deltas, norm_deltas = deltas
        for a, dz, gW, gb in zip(cache.acts[first:], linear_deltas, self.gW[first:], self.gb[first:]):
            _write(lambda out: torch.bmm(dz.transpose(1, 2), a, out=out), gW, accumulate)
            _write(lambda out: torch.sum(dz, dim=1, out=out), gb, accumulate)
        for x, dy, g_gamma, g_beta in zip(cache.normed[first:], norm_deltas, self.g_gamma[first:], self.g_beta[first:]):
            _write(lambda out: torch.sum(dy * x, dim=1, out=out), g_gamma, accumulate)
            _write(lambda out: torch.sum(dy, dim=1, out=out), g_beta, accumulate)

    def row_norms(self, cache, deltas, logits, l2=0.0):
        """Running statistics: each row's gradient norm |g_b + l2 * theta| over all parameters of its model,
        (K, B), from unweighted :meth:`deltas`: |g_b|^2 + 2 l2 <g_b, theta> + l2^2 |theta|^2."""
        linear_deltas, norm_deltas = deltas
        squared = 0
        for a, dz in zip(cache.acts, linear_deltas):
            squared = squared + dz.square().sum(dim=2) * (a.square().sum(dim=2) + 1)
        for x, dy in zip(cache.normed, norm_deltas):
            squared = squared + (dy.square() * (x.square() + 1)).sum(dim=2)
        if l2:
            theta = sum(p.flatten(1).square().sum(dim=1) for p in self.params).unsqueeze(1)  # (K, 1)
            squared = squared + 2 * l2 * self._inner_with_params(cache, deltas, logits) + l2 ** 2 * theta
        return squared.clamp(min=0).sqrt()

    def _inner_with_params(self, cache, deltas, logits):
        """Each row's <g_b, theta>, (K, B): a Linear layer's is sum_o dz_o * (W a + b)_o, a BatchNorm's
        sum_h dy_h * (gamma_h x_h + beta_h), both from what the forward pass kept."""
        linear_deltas, norm_deltas = deltas
        total = (linear_deltas[-1] * logits.transpose(1, 2)).sum(dim=2)
        for x, mean, inv_std, dz in zip(cache.normed, self.mean, self.inv_std, linear_deltas):
            total = total + (dz * (x / inv_std + mean)).sum(dim=2)  # W a + b, before normalising
        for x, dy, gamma, beta in zip(cache.normed, norm_deltas, self.gamma, self.beta):
            total = total + (dy * (x * gamma + beta)).sum(dim=2)
        return total

    def gradient(self, X, loss_grad, keep=None, first=0, batch_statistics=False):
        """Forward X, then add the gradient of ``loss_grad(logits)`` (logits and gradient (K, B, C)) to ``grads``;
        returns the logits (K, B, C). With batch statistics the running statistics are updated."""
        logits, cache = self.forward(X, keep, batch_statistics)
        logits = logits.transpose(1, 2)
        self.backward(cache, loss_grad(logits).transpose(1, 2), first, accumulate=True)
        if batch_statistics:
            self.update_running_statistics(cache)
        return logits


@dataclass
class Cache:
    """What a forward pass keeps for the backward: each layer's input (``acts``), normalised or centred
    activations (``normed``), inverse standard deviations, and with batch statistics the batch's means and
    variances."""

    acts: list
    normed: list
    inv_stds: list
    means: list
    variances: list
    dropout: bool
    batch_statistics: bool


def _write(compute, into, accumulate):
    """``compute(out)`` (a torch op's ``out=``) written into ``into``, or added to it if ``accumulate``."""
    if accumulate:
        into.add_(compute(None))
    else:
        compute(into)


def _views(flat, tensors):
    """Views of a (K, P) tensor shaped like each of ``tensors`` in turn."""
    views, start = [], 0
    for t in tensors:
        size = t[0].numel()
        views.append(flat[:, start:start + size].view(t.shape))
        start += size
    return views


class Adam:
    """Adam on a list of tensors, updated in place from ``grads`` (which it zeroes after each step if asked).

    One fused kernel (``torch._fused_adam_``, what ``torch.optim.Adam(fused=True)`` calls) updates them all;
    where a device has none, the same update with ``torch._foreach`` ops. The update is elementwise, so each
    model's is the one it would get alone.
    """

    def __init__(self, params, grads, lr, zero_grads=True):
        self.params, self.grads, self.lr, self.zero_grads = list(params), list(grads), lr, zero_grads
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = torch.zeros((), device=self.params[0].device)
        self.t, self.fused = 0, True

    def step(self, lr=None):
        lr = self.lr if lr is None else lr
        self.t += 1
        self.step_count.fill_(self.t)
        if self.fused:
            try:
                torch._fused_adam_(self.params, self.grads, self.exp_avg, self.exp_avg_sq, [],
                                   [self.step_count] * len(self.params), lr=lr, beta1=BETAS[0],
                                   beta2=BETAS[1], weight_decay=0.0, eps=ADAM_EPS, amsgrad=False, maximize=False)
            except (RuntimeError, NotImplementedError):  # no fused kernel for this device or build
                self.fused = False
        if not self.fused:
            torch._foreach_lerp_(self.exp_avg, self.grads, 1 - BETAS[0])
            torch._foreach_mul_(self.exp_avg_sq, BETAS[1])
            torch._foreach_addcmul_(self.exp_avg_sq, self.grads, self.grads, value=1 - BETAS[1])
            denom = torch._foreach_sqrt(torch._foreach_div(self.exp_avg_sq, 1 - BETAS[1] ** self.t))
            torch._foreach_add_(denom, ADAM_EPS)
            torch._foreach_addcdiv_(self.params, self.exp_avg, denom, value=-lr / (1 - BETAS[0] ** self.t))
        if self.zero_grads:
            torch._foreach_zero_(self.grads)


class SGD:
    """torch.optim.SGD's update on a list of tensors: g = grads * ``mask`` (a list like ``params``, or None) +
    weight_decay * params, then momentum; params -= lr * g; ``grads`` are zeroed after each step if asked.

    The mask multiplies the loss's gradient, as the baselines' code multiplies ``param.grad`` before the optimiser
    adds its weight decay: without weight decay a 0 leaves a parameter bit-identical.
    """

    def __init__(self, params, grads, lr, momentum=0.0, weight_decay=0.0, mask=None, zero_grads=True):
        self.params, self.grads, self.lr, self.zero_grads = list(params), list(grads), lr, zero_grads
        self.momentum, self.weight_decay, self.mask = momentum, weight_decay, mask
        self.buffer = None

    def step(self, lr=None):
        g = self.grads
        if self.mask is not None:
            g = torch._foreach_mul(g, self.mask)
        if self.weight_decay:
            g = torch._foreach_add(g, self.params, alpha=self.weight_decay)
        if self.momentum:
            if self.buffer is None:
                self.buffer = [t.clone() for t in g]
            else:
                torch._foreach_mul_(self.buffer, self.momentum)
                torch._foreach_add_(self.buffer, g)
            g = self.buffer
        torch._foreach_add_(self.params, g, alpha=-(self.lr if lr is None else lr))
        if self.zero_grads:
            torch._foreach_zero_(self.grads)


# Random draws: batches and dropout masks


def random_int16(n, generator, buffer=None):
    """``n`` uniformly random int16 values: 64-bit integers read as four 16-bit ones.

    ``buffer``, an int64 tensor of at least (n + 3) // 4 elements, is filled instead of a new one.
    """
    size = (n + 3) // 4
    bits = torch.empty(size, dtype=torch.int64, device=generator.device) if buffer is None else buffer[:size]
    bits.random_(-(2**63), None, generator=generator)  # the full 64 bits; plain random_() leaves the sign bit 0
    return bits.view(torch.int16)[:n]


def keep_threshold(p):
    """Keep a unit when its :func:`random_int16` value is at least this: probability 1 - round(p * 65536) / 65536."""
    return round(p * 65536) - 32768


def permutations(n_models, n_rows, generator):
    """Each model's own random order of the rows: (K, n_rows) indices."""
    return torch.rand(n_models, n_rows, generator=generator, device=generator.device).argsort(dim=1)


def batches(n_models, n_rows, n_batches, batch_size, generator):
    """Row indices (n_batches, K, B): each model reads its own consecutive random permutations of the rows."""
    passes = math.ceil(n_batches * batch_size / max(1, n_rows))
    order = torch.cat([torch.empty((n_models, 0), dtype=torch.long, device=generator.device),
                       *(permutations(n_models, n_rows, generator) for _ in range(passes))], dim=1)
    return order[:, :n_batches * batch_size].view(n_models, n_batches, batch_size).transpose(0, 1)


def gather(X, y, rows):
    """The rows (K, B) of X and y as one contiguous batch per model: (K, B, F) and (K, B)."""
    index = rows.reshape(-1)
    return X.index_select(0, index).view(*rows.shape, -1), y.index_select(0, index).view(rows.shape)


def steps_per_epoch(n_rows, batch_size):
    """Batches in one pass over ``n_rows`` rows (the last one topped up from the next pass)."""
    return max(1, math.ceil(n_rows / batch_size))


def keep_bits(steps, n_models, n_rows, width, generator, buffer=None):
    """Dropout bits for ``steps`` steps, (steps, K, B, width) int16: compare with
    :func:`keep_threshold` for the boolean keep masks :meth:`Stack.forward` takes."""
    return random_int16(steps * n_models * n_rows * width, generator, buffer).view(steps, n_models, n_rows, width)


def keep_mask(model, n_rows, generator):
    """One step's boolean keep mask (K, B, sum(hidden)) for ``model``'s K models, or None without dropout."""
    if not model.dropout:
        return None
    bits = keep_bits(1, model.n_models, n_rows, sum(model.hidden_sizes), generator)[0]
    return bits >= keep_threshold(model.dropout)


def masks_per_draw(n_models, batch_size, width, extra_per_step=0):
    """Steps whose dropout bits (and ``extra_per_step`` further bytes) fit in ``MASK_BYTES``, drawn at once."""
    return max(1, MASK_BYTES // (2 * n_models * batch_size * width + extra_per_step))


# Blocks of models in processes


def model_groups(k, batch_size, device):
    """How K models that step on ``batch_size`` rows each run: a list of groups, one per process, each a list
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


class Block:
    """One block of models as its worker steps it: its slice ``models`` of the K models, its random ``stream``,
    and its dropout bits, drawn for a chunk of ``per_draw`` steps at a time into a buffer of its own."""

    def __init__(self, models, stream, model, batch_size, per_draw):
        self.models, self.stream, self.size = models, stream, models.stop - models.start
        self.width, self.dropout = sum(model.hidden_sizes), model.dropout
        self.threshold = keep_threshold(model.dropout)
        values = per_draw * batch_size * self.width * self.size if model.dropout else 0
        self.buffer = torch.empty((values + 3) // 4, dtype=torch.int64, device=stream.device)
        self.bits = None

    def draw_bits(self, steps, batch_size):
        """Dropout bits for the next ``steps`` steps of ``batch_size`` rows (none without dropout)."""
        if self.dropout:
            self.bits = keep_bits(steps, self.size, batch_size, self.width, self.stream, self.buffer)

    def keep(self, step, n_rows):
        """The boolean keep mask (models, n_rows, width) of the chunk's ``step``, or None without dropout."""
        return self.bits[step, :, :n_rows] >= self.threshold if self.dropout else None


def block_streams(groups, generator):
    """Each block's random stream, keyed by its first model, all derived from one draw of ``generator``."""
    firsts = sorted(block.start for group in groups for block in group)
    return dict(zip(firsts, runtime.streams(generator, *firsts)))


def side_by_side(groups, tensors, work):
    """Run ``work(group)`` for every group of blocks of models, side by side (:func:`nbutils.runtime.fork_map`).

    ``work`` updates its blocks' slices of ``tensors`` in place, each block from a random stream of its own (so
    the numbers do not depend on how the blocks are grouped). Here, the updated slices are written back into
    ``tensors``, and what each ``work`` returned is returned.
    """
    def run(group):
        returned = work(group)
        return [[t.detach()[block].clone() for t in tensors] for block in group], returned

    results = runtime.fork_map(run, groups, len(groups))
    with torch.no_grad():
        for group, (updated, _) in zip(groups, results):
            for block, values in zip(group, updated):
                for t, value in zip(tensors, values):
                    t[block] = value
    return [returned for _, returned in results]


def in_blocks(method):
    """``method(model, value, generator, splits, params)`` run on blocks of models side by side, in processes.

    From ``METHOD_BLOCK_ROWS`` retain rows and two models, the models split into ``METHOD_BLOCKS`` blocks,
    each unlearned from a random stream of its own (:func:`block_streams`), in as many processes as torch may use
    threads; the blocks depend on K and the table alone, so the thread count changes no number. Below, the
    method runs on every model at once from ``generator``, as it is.
    """
    @functools.wraps(method)
    def run(model, value, generator, splits, params):
        k = model.n_models
        if k < 2 or len(splits.X_retain) < METHOD_BLOCK_ROWS or splits.X_retain.device.type != "cpu":
            return method(model, value, generator, splits, params)
        size = math.ceil(k / METHOD_BLOCKS)
        blocks = [slice(first, min(first + size, k)) for first in range(0, k, size)]
        workers = runtime.workers_for(len(blocks), splits.X_retain.device) if PARALLEL_BLOCKS else 1
        groups = [blocks[w::workers] for w in range(workers)]
        streams = block_streams(groups, generator)
        out = model.select(slice(None))
        tensors = [*out.parameters(), *out.buffers()]

        def work(group):
            with torch.no_grad():
                for block in group:
                    part = method(model.select(block), value, streams[block.start], splits, params)
                    for t, unlearned in zip(tensors, [*part.parameters(), *part.buffers()]):
                        t[block] = unlearned

        side_by_side(groups, tensors, work)
        return out

    return run
