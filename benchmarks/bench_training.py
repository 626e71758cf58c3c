"""Time the seed's training loop against ours, single model and ensembles; write benchmarks/results.md.

Each configuration runs in its own process, so its peak memory is its own. Run it with ``make bench``.
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nbutils import data, runtime
from nbutils.train import fit_ensemble
from record import append

HERE = Path(__file__).resolve().parent
PARAMS = dict(hidden_sizes=[64, 32, 16], n_classes=2, dropout=0.3, batch_size=32, learning_rate=0.001)
TARGET_K, TARGET_PER_MODEL, AIM_PER_MODEL, TARGET_TOTAL, TARGET_MEMORY_GIB = 64, 0.5, 0.25, 40.0, 2.0


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


def measure(kind, k, epochs, device_name, threads):
    """Train once in this process; returns seconds, peak memory in MiB and mean test accuracy."""
    runtime.configure(threads)
    device = runtime.resolve_device(device_name)
    X, y = data.make_synthetic(n_samples=2000, n_features=20, n_informative=15, n_redundant=3, n_classes=2,
                               flip_y=0.1, seed=42)
    splits = data.split(X, y, test_ratio=0.2, forget_ratio=0.1, seed=42, device=device)
    start = time.perf_counter()
    if kind == "seed":
        torch.manual_seed(0)
        model = seed_loop(splits.X_train, splits.y_train, epochs)
    else:
        model, _, _ = fit_ensemble({**PARAMS, "epochs": epochs}, splits.X_train, splits.y_train, k,
                                   runtime.generator(device, 0, "bench"), progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        logits = model(splits.X_test)  # (K, C, n); (n, C) for the seed's single model
        logits = logits.T[None] if kind == "seed" else logits
        accuracy = (logits.argmax(1) == splits.y_test).float().mean().item() * 100
    if device.type == "cuda":
        memory = torch.cuda.max_memory_allocated() / 2**20
    else:
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return {"seconds": seconds, "memory_mib": memory, "test_acc": accuracy}


def machine(device_name):
    device = runtime.resolve_device(device_name)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {torch.get_num_threads()} of {torch.multiprocessing.cpu_count()} cores used, torch {torch.__version__}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 64], help="ensemble sizes K")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.epochs, args.device, args.threads)))
        return 0

    runs = [("seed loop (DataLoader)", "seed", 1), ("ours, single model", "ensemble", 1)]
    runs += [(f"ours, ensemble K={k}", "ensemble", k) for k in args.sizes]
    rows = []
    for label, kind, k in runs:
        cmd = [sys.executable, __file__, "--one", kind, str(k), "--epochs", str(args.epochs),
               "--device", args.device, "--threads", str(args.threads)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        rows.append({"label": label, "k": k, **result, "per_model": result["seconds"] / k})
        base = rows[0]["per_model"]
        print(f"{label:<26} {result['seconds']:8.2f} s  {result['seconds'] / k:7.3f} s/model  "
              f"{base / (result['seconds'] / k):7.1f}x  peak {result['memory_mib']:7.0f} MiB", flush=True)

    base = rows[0]["per_model"]
    lines = [f"### {machine(args.device)}, {args.epochs} epochs, {time.strftime('%Y-%m-%d')}", "",
             "| run | models | seconds | seconds per model | speed-up per model vs seed | peak memory (MiB) | mean test acc (%) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['label']} | {r['k']} | {r['seconds']:.2f} | {r['per_model']:.3f} | {base / r['per_model']:.1f}× | "
              f"{r['memory_mib']:.0f} | {r['test_acc']:.1f} |" for r in rows]
    target = next((r for r in rows if r["k"] == TARGET_K and r["label"].startswith("ours, ensemble")), None)
    if target and args.epochs == 100:
        verdict = [
            f"K={TARGET_K}: {target['per_model']:.3f} s per model (target ≤ {TARGET_PER_MODEL}, aim ≤ {AIM_PER_MODEL}): "
            f"{'met' if target['per_model'] <= TARGET_PER_MODEL else 'NOT met'}, aim {'met' if target['per_model'] <= AIM_PER_MODEL else 'not met'}",
            f"K={TARGET_K}: {target['seconds']:.1f} s in all (target < {TARGET_TOTAL:.0f}): "
            f"{'met' if target['seconds'] < TARGET_TOTAL else 'NOT met'}",
            f"K={TARGET_K}: peak memory {target['memory_mib'] / 1024:.2f} GiB (target < {TARGET_MEMORY_GIB:.0f}): "
            f"{'met' if target['memory_mib'] / 1024 < TARGET_MEMORY_GIB else 'NOT met'}",
        ]
        print("\n".join(verdict))
        lines += [""] + [f"- {v}" for v in verdict]
    section = "\n".join(lines) + "\n"
    append(args.output, section)
    print(f"appended to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
