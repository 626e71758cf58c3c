"""Training K models at once: the seed's Adam and cross-entropy, vectorised over models, with a hand-written backward.

The stacked model is small enough that autograd's bookkeeping, strided batch slices and float dropout masks
cost more than its arithmetic (``benchmarks/README.md`` has the measurements). So a training step here is
written out: one forward pass that keeps what the backward needs, the exact gradients of every model's mean
cross-entropy, and one fused Adam update over a single flat buffer holding every parameter of every model.

Per hidden layer, with z = W a (K, h, B), mu and var its batch mean and biased variance, x = (z - mu) / sqrt(var
+ eps), y = gamma x + beta and a' = relu(y) * keep / (1 - p), the backward from da' is

    dy = da' * keep / (1 - p) * [y > 0]                  (one ``threshold_backward`` on a')
    dgamma = sum_b dy x,   dbeta = sum_b dy
    dz = gamma / sqrt(var + eps) * (dy - (dbeta + x dgamma) / B)
    dW = dz a^T,   da = W^T dz

and the hidden Linear layers' biases get gradient 0: BatchNorm subtracts the batch mean, so in training mode
they cancel exactly. (Autograd returns rounding noise of about 1e-9 for them, which Adam, dividing by its own
tiny second moment, turns into random steps of up to the learning rate; here they stay where they started.
They change no training-mode output, and none in evaluation either, since the running mean tracks z + b.)
The head is logits = W a + b with d logits = (softmax - one_hot) / B.
"""

import time

import torch
from tqdm import tqdm

from nbutils.model import MLPEnsemble

SEGMENT_ROWS = 16_384  # rows gathered per model at once: bounds memory on large tables
BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as the seed uses them


class FlatAdam:
    """Adam over one flat float32 buffer: every parameter of every model is a view into ``self.params``.

    One fused kernel (``torch._fused_adam_``, what ``torch.optim.Adam(fused=True)`` calls) updates all of them;
    where a device has none, the same update in a handful of whole-buffer ops. The update is elementwise, so
    each model's is the one it would get alone.
    """

    def __init__(self, tensors, lr):
        self.params = torch.cat([t.detach().reshape(-1) for t in tensors])
        self.grads = torch.zeros_like(self.params)
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.params), torch.zeros_like(self.params)
        self.step_count = torch.zeros((), device=self.params.device)
        self.lr, self.t = lr, 0
        sizes = [t.numel() for t in tensors]
        self.param_views = [v.view(t.shape) for v, t in zip(self.params.split(sizes), tensors)]
        self.grad_views = [v.view(t.shape) for v, t in zip(self.grads.split(sizes), tensors)]
        self.fused = True

    def step(self):
        self.t += 1
        self.step_count.fill_(self.t)
        if self.fused:
            try:
                torch._fused_adam_([self.params], [self.grads], [self.exp_avg], [self.exp_avg_sq], [],
                                   [self.step_count], lr=self.lr, beta1=BETAS[0], beta2=BETAS[1],
                                   weight_decay=0.0, eps=ADAM_EPS, amsgrad=False, maximize=False)
                return
            except (RuntimeError, NotImplementedError):  # no fused kernel for this device or build
                self.fused = False
        self.exp_avg.lerp_(self.grads, 1 - BETAS[0])
        self.exp_avg_sq.mul_(BETAS[1]).addcmul_(self.grads, self.grads, value=1 - BETAS[1])
        denom = (self.exp_avg_sq / (1 - BETAS[1] ** self.t)).sqrt_().add_(ADAM_EPS)
        self.params.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - BETAS[0] ** self.t))


class _Step:
    """One training step of every model: forward, exact backward into ``adam.grads``, running statistics, Adam.

    Activations are laid out (model, row, feature): BatchNorm's sums over rows then run along the feature axis,
    vectorised, where ``torch.var_mean`` and ``F.batch_norm`` on the transposed layout take 10 to 50 times
    longer on CPU for these shapes (``benchmarks/README.md``).
    """

    def __init__(self, model, adam):
        names = [name for name, _ in model.named_parameters()]
        views, grads = dict(zip(names, adam.param_views)), dict(zip(names, adam.grad_views))
        n_hidden = len(model.norms)
        self.W = [views[f"linears.{i}.weight"] for i in range(n_hidden + 1)]  # (K, out, in)
        self.gW = [grads[f"linears.{i}.weight"] for i in range(n_hidden + 1)]
        self.b = [views[f"linears.{i}.bias"].transpose(1, 2) for i in range(n_hidden + 1)]  # (K, 1, out)
        self.gb_head = grads[f"linears.{n_hidden}.bias"].squeeze(-1)  # (K, C)
        self.gamma = [views[f"norms.{i}.weight"].unsqueeze(1) for i in range(n_hidden)]  # (K, 1, h)
        self.beta = [views[f"norms.{i}.bias"].unsqueeze(1) for i in range(n_hidden)]
        self.g_gamma = [grads[f"norms.{i}.weight"].unsqueeze(1) for i in range(n_hidden)]
        self.g_beta = [grads[f"norms.{i}.bias"].unsqueeze(1) for i in range(n_hidden)]
        self.running_mean = [n.running_mean.unsqueeze(1) for n in model.norms]
        self.running_var = [n.running_var.unsqueeze(1) for n in model.norms]
        self.momentum, self.eps = model.norms[0].momentum, model.norms[0].eps
        self.hidden_sizes, self.adam = model.hidden_sizes, adam
        self.scale = 1 / (1 - model.dropout) if model.dropout else 1.0
        self._minus_one = {}

    def __call__(self, X, y, keep, loss_sum):
        """X (K, B, F) contiguous, y (K, B), keep (K, B, sum(hidden)) of 0 and 1/(1-p), or None; adds each
        model's mean loss to ``loss_sum`` (K,)."""
        B, scale = X.shape[1], self.scale
        keeps = keep.split(self.hidden_sizes, dim=2) if keep is not None else [None] * len(self.gamma)
        acts, normed, inv_stds, means, variances = [X], [], [], [], []
        a = X
        for W, gamma, beta, k in zip(self.W, self.gamma, self.beta, keeps):
            z = torch.bmm(a, W.transpose(1, 2))  # (K, B, h); the bias cancels in BatchNorm, see the running mean
            mu = z.mean(dim=1, keepdim=True)
            x = z.sub_(mu)
            var = (x * x).mean(dim=1, keepdim=True)  # biased, as BatchNorm normalises with
            inv_std = (var + self.eps).rsqrt_()
            x.mul_(inv_std)
            a = torch.addcmul(beta, x, gamma).relu_()
            if k is not None:
                a.mul_(k)
            acts.append(a), normed.append(x), inv_stds.append(inv_std), means.append(mu), variances.append(var)

        logits = torch.baddbmm(self.b[-1], a, self.W[-1].transpose(1, 2))  # (K, B, C)
        log_p = logits.log_softmax(dim=2)
        target = y.unsqueeze(2)  # (K, B, 1)
        loss_sum.sub_(log_p.gather(2, target).sum(dim=(1, 2)), alpha=1 / B)
        if B not in self._minus_one:
            self._minus_one[B] = torch.full(target.shape, -1.0, device=X.device)
        d = log_p.exp_().scatter_add_(2, target, self._minus_one[B]).mul_(1 / B)  # (softmax - one_hot) / B
        torch.bmm(d.transpose(1, 2), a, out=self.gW[-1])
        torch.sum(d, dim=1, out=self.gb_head)
        d = torch.bmm(d, self.W[-1])

        for i in reversed(range(len(self.gamma))):
            dy = torch.ops.aten.threshold_backward(d, acts[i + 1], 0)  # still to be times 1/(1-p): folded below
            s_beta = dy.sum(dim=1, keepdim=True)
            s_gamma = (dy * normed[i]).sum(dim=1, keepdim=True)
            torch.mul(s_gamma, scale, out=self.g_gamma[i])
            torch.mul(s_beta, scale, out=self.g_beta[i])
            c = self.gamma[i] * inv_stds[i] * scale
            dz = dy.mul_(c).addcmul_(torch.addcmul(s_beta, normed[i], s_gamma), c, value=-1 / B)
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
    ``SEGMENT_ROWS`` rows at a time into a (batch, model, feature, row) block, so each step reads one
    contiguous piece. Dropout masks are drawn per segment as 16-bit integers (see
    :func:`nbutils.model.draw_keep_masks`) and compared per step. A final batch of a single row is skipped,
    since BatchNorm cannot train on it. Each model's gradient is that of its own mean cross-entropy, and
    Adam's update is elementwise, so each model's training is what it would be alone.

    Returns the mean training loss per model and epoch, an array of shape (K, epochs).
    """
    n, k, n_features = len(X), model.n_models, X.shape[1]
    params = list(model.parameters())
    adam = FlatAdam(params, lr)
    step = _Step(model, adam)
    losses = torch.zeros(k, epochs, device=X.device)
    n_batches = len([s for s in range(0, n, batch_size) if n - s > 1])
    segment = batch_size * max(1, SEGMENT_ROWS // batch_size)  # whole batches
    width, p = sum(model.hidden_sizes), model.dropout
    threshold = round(p * 65536) - 32768  # keep a unit when its 16 random bits, read as int16, reach this
    model.train()
    with torch.no_grad():
        for epoch in tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=False,
                          mininterval=2):
            order = torch.rand(k, n, generator=generator, device=generator.device).argsort(dim=1)  # (K, n)
            loss_sum = losses[:, epoch]
            for first in range(0, n, segment):
                rows = order[:, first:first + segment]
                full = rows.shape[1] // batch_size
                X_part, y_part = X[rows], y[rows]  # (K, rows, F), (K, rows)
                used = full * batch_size
                X_batches = X_part[:, :used].view(k, full, batch_size, n_features).transpose(0, 1).contiguous()
                y_batches = y_part[:, :used].view(k, full, batch_size).transpose(0, 1).contiguous()
                bits = _bits(full * k * batch_size * width, generator).view(full, k, batch_size, width) if p else None
                for j in range(full):
                    keep = torch.mul(bits[j] >= threshold, step.scale) if p else None
                    step(X_batches[j], y_batches[j], keep, loss_sum)
                rest = rows.shape[1] - used
                if rest >= 2:  # the data's last, shorter batch; one row alone is skipped
                    bits = _bits(k * rest * width, generator).view(k, rest, width) if p else None
                    keep = torch.mul(bits >= threshold, step.scale) if p else None
                    step(X_part[:, used:].contiguous(), y_part[:, used:].contiguous(), keep, loss_sum)
        for p_model, p_flat in zip(params, adam.param_views):
            p_model.copy_(p_flat)
    model.eval()
    return (losses / n_batches).cpu().numpy()


def _bits(n, generator):
    """``n`` uniformly random int16 values: 64-bit integers read as four 16-bit ones."""
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=generator.device)
    bits.random_(-(2**63), None, generator=generator)  # the full 64 bits; plain random_() leaves the sign bit 0
    return bits.view(torch.int16)[:n]


def fit_ensemble(params, X, y, n_models, generator, progress=True):
    """Build ``n_models`` fresh models as the parameters describe and train them on (X, y).

    Returns (model, losses of shape (K, epochs), seconds).
    """
    start = time.perf_counter()
    model = MLPEnsemble(n_models, X.shape[1], params["hidden_sizes"], params["n_classes"], params["dropout"], generator)
    losses = train_ensemble(model, X, y, epochs=params["epochs"], batch_size=params["batch_size"],
                            lr=params["learning_rate"], generator=generator, progress=progress)
    return model, losses, time.perf_counter() - start
