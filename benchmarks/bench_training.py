"""Time training and the shared fine-tuning step: the seed's loop, today's engine and the reference engine it
replaced (benchmarks/reference_engine.py), side by side in one run; append the table to benchmarks/results.md.

Each measurement runs in its own process, so its peak memory is its own. The reference and the engine
alternate, ``--repeats`` times, and the table reports medians, because timings on a shared machine drift.
Run it with ``make bench``.
"""

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import reference_engine
from nbutils import runtime
from nbutils.data import reading, tensors
from nbutils.methods.finetune import retain_sgd
from nbutils.model import MLPEnsemble
from nbutils.train import train_ensemble
from record import append

HERE = Path(__file__).resolve().parent
PARAMS = dict(hidden_sizes=[64, 32, 16], n_classes=2, dropout=0.3, batch_size=32, learning_rate=0.001)
FINETUNE = dict(lr=0.2, batch_size=32)  # the notebook's finetune_lr and finetune_batch_size
TARGET_RATIO = 2.0  # issue 15: at least twice the reference engine's speed per model, at K = 64 and 256


def seed_loop(X, y, epochs):
    """The seed notebook's training: nn.Sequential, DataLoader with batch 32, Adam, one model."""
    layers, width = [], X.shape[1]
    for h in PARAMS["hidden_sizes"]:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(PARAMS["dropout"])]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 2)).to(X.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=PARAMS["learning_rate"])
    loader = DataLoader(TensorDataset(X, y), batch_size=PARAMS["batch_size"], shuffle=True)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            criterion(model(xb), yb).backward()
            optimizer.step()
    return model.eval()


def measure(kind, k, epochs, steps, device_name, threads):
    """One measurement in this process: seconds, peak memory in MiB, and mean test accuracy (training) or
    seconds per step per model (fine-tuning).

    kind: ``seed`` (the seed's loop), ``reference`` or ``engine`` (training K models), ``finetune-reference``
    or ``finetune-engine`` (``steps`` SGD steps of K trained models on the retain rows).
    """
    runtime.configure(threads)
    device = runtime.resolve_device(device_name)
    X, y = reading.make_synthetic(n_samples=2000, n_features=20, n_informative=15, n_redundant=3, n_classes=2,
                               flip_y=0.1, seed=42)
    splits = tensors.split(X, y, test_ratio=0.2, forget_ratio=0.1, seed=42, device=device)
    generator = runtime.generator(device, 0, "bench")
    model = None if kind == "seed" else MLPEnsemble(k, X.shape[1], PARAMS["hidden_sizes"], 2, PARAMS["dropout"],
                                                    generator)
    train = dict(epochs=epochs, batch_size=PARAMS["batch_size"], lr=PARAMS["learning_rate"], generator=generator)
    if kind.startswith("finetune"):  # fine-tune trained models: a quick training first, not timed
        train_ensemble(model, splits.X_train, splits.y_train, **{**train, "epochs": 2})
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first construction imports torch._dynamo (~1 s):
    _synchronize(device)  # paid here, outside the clock, so the engine (no torch.optim) gains nothing from it
    start = time.perf_counter()
    if kind == "seed":
        torch.manual_seed(0)
        model = seed_loop(splits.X_train, splits.y_train, epochs)
    elif kind in ("reference", "engine"):
        engine = reference_engine if kind == "reference" else sys.modules["nbutils.train"]
        engine.train_ensemble(model, splits.X_train, splits.y_train, **train)
    else:
        sgd = reference_engine.retain_sgd if kind == "finetune-reference" else retain_sgd
        sgd(model, splits.X_retain, splits.y_retain, steps=steps, generator=runtime.generator(device, 1, "ft"),
            **FINETUNE)
    _synchronize(device)
    seconds = time.perf_counter() - start
    result = {"seconds": seconds}
    if kind.startswith("finetune"):
        result["per_step_model"] = seconds / steps / k
    else:
        with torch.no_grad():
            logits = model(splits.X_test)  # (K, C, n); (n, C) for the seed's single model
            logits = logits.T[None] if kind == "seed" else logits
            result["test_acc"] = (logits.argmax(1) == splits.y_test).float().mean().item() * 100
    if device.type == "cuda":
        result["memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        result["memory_mib"] = max(resource.getrusage(who).ru_maxrss  # kilobytes on Linux; the engine's workers too
                                   for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    return result


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def machine(device_name, threads):
    device = runtime.resolve_device(device_name)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {threads} of {torch.multiprocessing.cpu_count()} cores used, torch {torch.__version__}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256],
                        help="ensemble sizes K timed against the reference engine")
    parser.add_argument("--also", type=int, nargs="*", default=[1, 8, 32], help="sizes timed for the engine alone")
    parser.add_argument("--finetune-sizes", type=int, nargs="*", default=[32, 64],
                        help="ensemble sizes whose fine-tuning step is timed against the reference")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200, help="fine-tuning steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of reference and engine")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.epochs, args.steps, args.device,
                                 args.threads)))
        return 0

    def run(kind, k):
        cmd = [sys.executable, __file__, "--one", kind, str(k), "--epochs", str(args.epochs), "--steps",
               str(args.steps), "--device", args.device, "--threads", str(args.threads)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(f"  {kind:<19} K={k:<4} {result['seconds']:8.2f} s", flush=True)
        return result

    seed = run("seed", 1)
    runs = {}  # (kind, k) -> list of results
    for _ in range(args.repeats):  # alternate, so drift on a shared machine hits both alike
        for k in args.sizes:
            for kind in ("reference", "engine"):
                runs.setdefault((kind, k), []).append(run(kind, k))
        for k in args.finetune_sizes:
            for kind in ("finetune-reference", "finetune-engine"):
                runs.setdefault((kind, k), []).append(run(kind, k))
    for k in args.also:
        if k not in args.sizes:
            runs[("engine", k)] = [run("engine", k)]

    def median(kind, k, key="seconds"):
        return statistics.median(r[key] for r in runs[(kind, k)])

    lines = [f"### Training engine against the reference: {machine(args.device, args.threads)}, {args.epochs} epochs, "
             f"medians of {args.repeats} alternating runs, {time.strftime('%Y-%m-%d')}", "",
             "| run | models | seconds | seconds per model | speed-up per model vs reference | vs seed loop | "
             "peak memory (MiB) | mean test acc (%) |", "|---|---|---|---|---|---|---|---|"]
    base = seed["seconds"]
    lines.append(f"| seed loop (DataLoader) | 1 | {base:.2f} | {base:.3f} | | 1.0× | {seed['memory_mib']:.0f} | "
                 f"{seed['test_acc']:.1f} |")
    verdict = []
    for k in sorted({k for _, k in runs if (("engine", k) in runs)}):
        for kind in ("reference", "engine"):
            if (kind, k) not in runs:
                continue
            seconds = median(kind, k)
            ratio = ""
            if kind == "engine" and ("reference", k) in runs:
                ratio = median("reference", k) / seconds
                times = {name: ", ".join(f"{r['seconds']:.1f}" for r in runs[(name, k)]) for name in ("reference", "engine")}
                verdict.append(f"K={k}: the engine trains a model {ratio:.2f}× as fast as the reference "
                               f"(target ≥ {TARGET_RATIO:.0f}×: {'met' if ratio >= TARGET_RATIO else 'NOT met'}); "
                               f"reference {times['reference']} s, engine {times['engine']} s")
                ratio = f"{ratio:.2f}×"
            lines.append(f"| {'reference engine' if kind == 'reference' else 'engine'} | {k} | {seconds:.2f} | "
                         f"{seconds / k:.3f} | {ratio} | {base / (seconds / k):.1f}× | "
                         f"{median(kind, k, 'memory_mib'):.0f} | {median(kind, k, 'test_acc'):.1f} |")
    if args.finetune_sizes:
        lines += ["", f"Fine-tuning step (plain SGD, lr {FINETUNE['lr']}, batch {FINETUNE['batch_size']}, dropout "
                  f"on, {args.steps} steps), seconds per step per model:", "",
                  "| models | reference | engine | speed-up |", "|---|---|---|---|"]
        for k in args.finetune_sizes:
            ref, ours = median("finetune-reference", k, "per_step_model"), median("finetune-engine", k, "per_step_model")
            lines.append(f"| {k} | {ref * 1e6:.1f} µs | {ours * 1e6:.1f} µs | {ref / ours:.2f}× |")
    print("\n".join(lines[2:]))
    print("\n".join(verdict))
    append(args.output, "\n".join(lines + [""] + [f"- {v}" for v in verdict]) + "\n")
    print(f"appended to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
