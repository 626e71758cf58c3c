"""Time the challenge score per configuration (N = 32 models per side, the seed's 160 forget rows).

Confidences come from real models: 32 originals against 32 retrained models, trained as in the default report
but for fewer epochs (the score's cost does not depend on how well the models fit). Appends a line to
benchmarks/results.md. Run it with ``make bench``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nbutils import runtime
from nbutils.challenge import challenge_score
from nbutils.data import reading, tensors
from nbutils.metrics import predict
from nbutils.train import fit_ensemble
from record import append

HERE = Path(__file__).resolve().parent
PARAMS = dict(hidden_sizes=[64, 32, 16], n_classes=2, dropout=0.3, batch_size=32, learning_rate=0.001, epochs=20)
TARGET_SECONDS = 0.1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=32, help="N, models per side")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    runtime.configure(args.threads)
    cpu = torch.device("cpu")
    X, y = reading.make_synthetic(n_samples=2000, n_features=20, n_informative=15, n_redundant=3, n_classes=2,
                               flip_y=0.1, seed=42)
    splits = tensors.split(X, y, test_ratio=0.2, forget_ratio=0.1, seed=42)
    original = fit_ensemble(PARAMS, splits.X_train, splits.y_train, args.models, runtime.generator(cpu, 0, "o"), False)[0]
    retrain = fit_ensemble(PARAMS, splits.X_retain, splits.y_retain, args.models, runtime.generator(cpu, 0, "r"), False)[0]
    unlearned, retrained = predict(original, splits), predict(retrain, splits)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        score = challenge_score(unlearned, retrained)
        seconds.append(time.perf_counter() - start)
    median = float(np.median(seconds))
    line = (f"- Challenge score, N = {args.models}, {len(splits.y_forget)} forget rows, {args.threads} threads, "
            f"{time.strftime('%Y-%m-%d')}: {median:.3f} s per configuration (median of {args.repeats}; "
            f"min {min(seconds):.3f}, max {max(seconds):.3f}; target ≤ {TARGET_SECONDS}: "
            f"{'met' if median <= TARGET_SECONDS else 'NOT met'}); score {score.score:.4f}")
    print(line)
    append(args.output, line)
    print(f"appended to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
