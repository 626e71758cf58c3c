"""Reruns of one configuration with other method seeds, compared as the findings compare configurations.

A configuration's score moves with its own random draws (batches, dropout masks, noise). Intervals across
report replicates, where each replicate draws everything anew, must call two reruns of one configuration
distinguishable about as often as their level allows (5 %), not the 18-36 % that intervals over forget rows
and models alone gave.
"""

import itertools

import torch

from nbutils import evaluation, findings, params
from nbutils.data import tensors

SETTINGS = {"n_samples": 600, "epochs": 5, "n_seeds": 2, "challenge_models": 8, "methods": ["finetune"],
            "finetune_steps": [20], "report_replicates": 3, "threads": 1}
RERUNS = 10


def test_reruns_with_other_method_seeds_are_rarely_called_distinguishable_across_replicates():
    P = params.validate(SETTINGS)
    cpu = torch.device("cpu")
    replicates = [evaluation.train_references(P, tensors.load(P, cpu, replicate=r), cpu, r) for r in (1, 2, 3)]
    scored = []
    for seed in range(RERUNS):
        rerun = {**P, "noise_seed": seed}
        for replicate in replicates:
            finetuned = evaluation.fresh(rerun, replicate, [("finetune", "steps=20")], cpu)[-1]
            finetuned.rows["setting"] = f"seed {seed}"  # one configuration per rerun
            scored.append(finetuned)
    across = findings.comparisons(scored)
    configs = [("finetune", f"seed {seed}") for seed in range(RERUNS)]
    assert across.replicates == 3 and "t intervals over the 3 report replicates" in across.how()
    pairs = list(itertools.combinations(configs, 2))
    called = sum(across(a, b)[3] for a, b in pairs)
    assert called <= 5  # of 45 pairs; at 95 % about 2 are expected
    # The bootstrap of one replicate covers its forget rows and models, not the method's draws: it calls many
    # more reruns apart (9, 16 and 15 of 45 here, one replicate at a time), which is why the findings read
    # several replicates when there are some.
    within = [findings.comparisons([s for s in scored if s.rows["replicate"].iloc[0] == r]) for r in (1, 2, 3)]
    assert sum(compare(a, b)[3] for compare in within for a, b in pairs) >= 3 * (called + 5)
