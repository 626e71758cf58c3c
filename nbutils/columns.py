"""The result columns, each defined once: what the tables call it, its digits, and whether it is a figure per
model (shown as mean ± std over models) or per configuration and replicate (repeated on each of its rows), with
a 95 % interval in ``<name>_lo`` and ``<name>_hi`` or without."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column. ``per``: ``model``, ``configuration``, or ``summary`` for a figure section 7's table computes
    from the others; ``cost``: measured or counted work, averaged over the report replicates."""

    name: str
    label: str
    per: str = "model"
    digits: int = 2
    interval: bool = False
    cost: bool = False


COLUMNS = {column.name: column for column in [
    Column("retain_acc", "Retain acc (%)"),
    Column("forget_acc", "Forget acc (%)"),
    Column("test_acc", "Test acc (%)"),
    Column("param_dist", "Param dist", digits=4),
    Column("mia_auc", "MIA AUC", digits=4),
    Column("mia_tpr@0.01", "TPR@1%FPR (%)"),
    Column("mia_tpr@0.001", "TPR@0.1%FPR (%)"),
    Column("mia_efficacy", "MIA efficacy (%)"),
    Column("seed_quality", "Seed quality score"),
    Column("gap_forget", "Gap forget", "configuration", interval=True),
    Column("gap_retain", "Gap retain", "configuration", interval=True),
    Column("gap_test", "Gap test", "configuration", interval=True),
    Column("gap_mia", "Gap MIA", "configuration", interval=True),
    Column("avg_gap", "Avg. Gap", "configuration", interval=True),
    Column("forget_score", "Forget score", "configuration", 4, interval=True),
    Column("challenge_score", "Challenge score", "configuration", 4, interval=True),
    Column("attack_acc", "Per-example attack acc", "configuration", 3, interval=True),
    Column("attack_worst", "Attack acc, worst 10 % of rows", "configuration", 3, interval=True),
    Column("seconds_per_model", "seconds per model", "configuration", cost=True),
    Column("ms_per_model", "ms per model", "configuration", 3),
    Column("tuning_challenge_score", "Challenge score when tuned", "configuration", 4),
    Column("cost_share", "% of retraining's work", "configuration", 3, cost=True),
    Column("speedup", "Speed-up vs retrain", "summary"),
]}

PER_MODEL = [name for name, column in COLUMNS.items() if column.per == "model"]
PER_SETTING = [name for name, column in COLUMNS.items() if column.per == "configuration"]
WITH_INTERVAL = [name for name, column in COLUMNS.items() if column.interval]
INTERVAL_BOUNDS = [f"{name}_{end}" for name in WITH_INTERVAL for end in ("lo", "hi")]  # results.csv's last columns
COSTS = [name for name, column in COLUMNS.items() if column.cost]  # averaged over the report replicates
LABELS = {name: column.label for name, column in COLUMNS.items()}
