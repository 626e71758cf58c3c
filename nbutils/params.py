"""Parameters: the notebook's ``parameters`` cell is the schema; everything else is checked against it.

Papermill only warns about a name the notebook does not define, then runs on
the default. We refuse it instead, before any training, and check types and
values the same way whether a run comes from ``python -m nbutils run``, plain
``papermill`` or JupyterLab. The valid methods are the notebook's default
``methods``. The data parameters are checked by ``data.splits.problems``, which reads
the table (and a forget request's file) once; a request on an exported model (``original_model``) by
``chain.problems``, against its deletion records. What each method sweeps and which parameters must be noise
levels is :mod:`nbutils.catalog`'s. This module imports no PyTorch, so the command line answers bad input at once.
"""

import ast
import codecs
import difflib
import json
import math

import yaml

from nbutils import NOTEBOOK, chain
from nbutils.catalog import LIMITED, LIMITS, REPAIR_BASES, REPAIRS, sweep_parameters
from nbutils.data import splits
from nbutils.data.splits import split_sizes

WITHIN = {  # whether one value is within each of the catalog's limits
    "noise": lambda v: math.isfinite(v) and v >= 0, "share": lambda v: 0 <= v <= 1,
    "rate": lambda v: math.isfinite(v) and v >= 0, "steps": lambda v: v >= 0, "epochs": lambda v: v >= 0,
    "count": lambda v: v >= 0,
}
SALUN_BRANCHES = ["sequential", "mixed"]  # SalUn: a forget pass then a retain pass, or one pass over both
PROTOCOLS = ["independent", "one_original"]  # N originals unlearned once each, or the competition's one original N times


class ParameterError(ValueError):
    """One or more parameters are wrong; the message lists each with its fix."""


def defaults(notebook=NOTEBOOK):
    """The notebook's parameters and their default values, read from its ``parameters`` cell.

    The cell holds one literal assignment per line, as papermill expects; we read
    it with ``ast`` (papermill's own parser reads the same names and values, and
    ``papermill --help-notebook`` shows their comments).
    """
    with open(notebook) as f:
        cells = json.load(f)["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    return {name: ast.literal_eval(value) for name, value in _assignments("".join(cell["source"]))}


def _assignments(source):
    """(name, value expression) of each top-level assignment in a cell's source."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    yield target.id, node.value


def from_kernel(namespace, history):
    """The parameters as the notebook's kernel holds them: every known name, and any name papermill injected.

    ``history`` is IPython's ``In``; papermill's injected cell is the last one that starts with "# Parameters".
    Reading names from it, not from new globals, lets a JupyterLab user re-run cells in any order.
    """
    injected = next(([name for name, _ in _assignments(source)] for source in reversed(history)
                     if source.startswith("# Parameters")), [])
    names = [*defaults(), *injected]
    return {name: namespace[name] for name in dict.fromkeys(names) if name in namespace}


def load(files=(), overrides=None):
    """Layer YAML files (later wins), then single ``overrides``; returns only the values they set."""
    params = {}
    for path in files:
        with open(path) as f:
            layer = yaml.safe_load(f) or {}
        if not isinstance(layer, dict):
            raise ParameterError(f"{path}: expected a mapping of parameter names to values, got {type(layer).__name__}")
        params.update(layer)
    params.update(overrides or {})
    return params


def _type_problem(name, value, default):
    """A sentence if ``value`` does not have the type of the parameter's default, else None."""

    def number(v, like):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return isinstance(v, int) if isinstance(like, int) and not isinstance(like, bool) else True

    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = number(value, default)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(
            number(v, default[0]) if default and not isinstance(default[0], str) else isinstance(v, str) for v in value
        )
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, list) and all(number(x, 0.0) for x in v) for k, v in value.items()
        )
    else:
        ok = True
    if ok:
        return None
    if name == "forget" and isinstance(value, dict) and len(value) == 1:
        kind, argument = next(iter(value.items()))
        return (f"forget: YAML read {value!r} as a mapping, because of the space after '{kind}:'; write "
                f"forget: '{kind}:{argument}' (no space after the colon; -p forget '{kind}:{argument}')")
    like = repr(default) if default != [] else "a list of texts, e.g. ['a', 'b']"
    return f"{name}: expected a value like {like}, got {value!r} ({type(value).__name__})"


def _value_problems(p, methods):
    """Sentences naming each value that is out of range, with what would be accepted."""
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    synthetic = p["dataset"] == "synthetic"
    for name in ["n_samples", "n_features", "n_informative", "epochs", "n_seeds", "threads"]:
        need(p[name] >= 1, f"{name}: must be at least 1, got {p[name]}")
    need(p["n_redundant"] >= 0, f"n_redundant: must be 0 or more, got {p['n_redundant']}")
    need(p["batch_size"] >= 2, f"batch_size: BatchNorm needs at least 2 rows per batch, got {p['batch_size']}")
    for name in ["data_seed", "train_seed", "noise_seed"]:
        need(p[name] >= 0, f"{name}: seeds must be 0 or more, got {p[name]}")
    need(not synthetic or p["n_informative"] + p["n_redundant"] <= p["n_features"],
         f"n_informative + n_redundant ({p['n_informative'] + p['n_redundant']}) must not exceed n_features ({p['n_features']})")
    need(not synthetic or p["n_classes"] * 2 <= 2 ** p["n_informative"],
         f"n_classes ({p['n_classes']}) needs n_informative of at least {math.ceil(math.log2(p['n_classes'] * 2))} "
         f"(make_classification puts two clusters per class on the corners of an n_informative-cube)")
    need(p["n_classes"] >= 2, f"n_classes: need at least 2 classes, got {p['n_classes']}")
    for name in ["test_ratio", "forget_ratio"]:
        need(0 < p[name] < 1, f"{name}: must lie strictly between 0 and 1, got {p[name]}")
    need(0 <= p["flip_y"] <= 1, f"flip_y: must lie in [0, 1], got {p['flip_y']}")
    need(len(p["csv_separator"]) <= 1, f"csv_separator: one character, or '' to detect it, got {p['csv_separator']!r}")
    need(p["csv_decimal"] in ("", ".", ","), f"csv_decimal: '.', ',' or '' to detect it, got {p['csv_decimal']!r}")
    need(not p["csv_encoding"] or _is_codec(p["csv_encoding"]),
         f"csv_encoding: unknown encoding {p['csv_encoding']!r}; name one Python knows, e.g. 'utf-8', 'cp1252', "
         "'latin-1' or 'utf-16', or '' to detect it")
    need(0 <= p["dropout"] < 1, f"dropout: must lie in [0, 1), got {p['dropout']}")
    need(math.isfinite(p["learning_rate"]) and p["learning_rate"] > 0, f"learning_rate: must be positive, got {p['learning_rate']}")
    need(len(p["hidden_sizes"]) > 0 and all(h >= 1 for h in p["hidden_sizes"]),
         f"hidden_sizes: need at least one layer, each of width 1 or more, got {p['hidden_sizes']}")
    need(p["challenge_models"] == 0 or p["challenge_models"] >= 3,
         f"challenge_models: use 0 to skip the challenge score or at least 3 models, got {p['challenge_models']}")
    need(p["report_replicates"] >= 1,
         f"report_replicates: at least 1 replicate of fresh models is needed to report on, got {p['report_replicates']}")
    need(p["tuning_replicates"] >= 1,
         f"tuning_replicates: at least 1 replicate is needed to choose operating points on, got {p['tuning_replicates']}")
    need(0 < p["cost_budget"] <= 1,
         f"cost_budget: a share of retraining's work in (0, 1], e.g. 0.1 for 10 %, got {p['cost_budget']}")
    need(p["challenge_protocol"] in PROTOCOLS,
         f"challenge_protocol: unknown {p['challenge_protocol']!r}{_suggest(p['challenge_protocol'], PROTOCOLS)}; "
         f"use one of {PROTOCOLS}")
    need(not p["original_model"] or p["challenge_models"] >= 3,
         "original_model: a later request is evaluated with the challenge score, on one_original's copies; set "
         f"challenge_models to 3 or more, got {p['challenge_models']}")
    need(p["challenge_protocol"] != "one_original" or p["challenge_models"] >= 2,
         "challenge_protocol: one_original unlearns the first original model challenge_models times; set "
         f"challenge_models to 3 or more, got {p['challenge_models']}")

    need(p["shards"] >= 0,
         f"shards: the training shards of the sharded model, 2 or more (0 or 1: off), got {p['shards']}")
    if synthetic and 0 < p["test_ratio"] < 1 and 0 < p["forget_ratio"] < 1 and p["n_samples"] >= 1:
        sizes = dict(zip(["retain", "forget", "test"], split_sizes(p["n_samples"], p["test_ratio"], p["forget_ratio"])))
        need(p["shards"] < 2 or sizes["retain"] >= 2 * p["shards"],
             f"shards: {p['shards']} shards of {sizes['retain']} retain rows leave fewer than 2 rows per shard, "
             "too few for BatchNorm; lower shards (0 turns sharding off) or raise n_samples")
        for split, n in sizes.items():
            need(n >= 2 * p["n_classes"],
                 f"the {split} set would have {n} rows, too few to stratify {p['n_classes']} classes "
                 f"(need {2 * p['n_classes']}); raise n_samples or the ratios")

    for name, kind in LIMITED.items():
        bad = [v for v in (p[name] if isinstance(p[name], list) else [p[name]]) if not WITHIN[kind](v)]
        need(not bad, f"{name}: {LIMITS[kind]}, got {bad if isinstance(p[name], list) else p[name]}")
    _method_problems(p, need)
    for name in dict.fromkeys(n for m in p["methods"] if m in methods for n in sweep_parameters(m, p["forget"])):
        values = p[name]
        need(len(values) > 0, f"{name}: give at least one setting, or leave its method out of `methods`")
        if isinstance(values, list):
            repeated = sorted({v for v in values if values.count(v) > 1})
            need(not repeated, f"{name}: {repeated} listed more than once; list each setting once")
    n_linear = len(p["hidden_sizes"]) + 1
    for strategy, sigmas in p["layerwise_strategies"].items():
        need(len(sigmas) == n_linear,
             f"layerwise_strategies[{strategy!r}]: needs one sigma per Linear layer ({n_linear}), got {len(sigmas)}")
        need(all(math.isfinite(s) and s >= 0 for s in sigmas),
             f"layerwise_strategies[{strategy!r}]: noise levels must be finite and non-negative, got {sigmas}")

    problems += name_problems(p["run_name"])
    for m in p["methods"]:
        if m not in methods:
            problems.append(f"methods: unknown method {m!r}{_suggest(m, methods)}; choose from {methods}")
    if p["device"] not in ("auto", "cpu", "cuda"):
        problems.append(f"device: must be 'auto', 'cpu' or 'cuda', got {p['device']!r}")
    elif p["device"] == "cuda" and not _cuda_available():
        problems.append("device: 'cuda' was asked for but PyTorch sees no CUDA GPU here; use 'auto' or 'cpu'")
    return problems


def _method_problems(p, need):
    """``need`` what the methods' parameters must be beyond the catalog's ``limits``: choices, bounds of their own."""
    need(p["finetune_batch_size"] >= 2, f"finetune_batch_size: must be at least 2 (the baselines that train "
         f"BatchNorm, as their authors do, need two rows a step), got {p['finetune_batch_size']}")
    need(p["repair_base"] in REPAIR_BASES,
         f"repair_base: {p['repair_base']!r} is not a noise method with one number per setting; choose from {REPAIR_BASES}")
    bad = [e for e in p["certified_epsilons"] if not e > 0]  # .inf is allowed: no noise
    need(not bad, f"certified_epsilons: must be positive (.inf for no noise), got {bad}")
    need(0 < p["certified_delta"] < 1, f"certified_delta: must lie strictly between 0 and 1, got {p['certified_delta']}")
    need(math.isfinite(p["certified_radius"]) and p["certified_radius"] > 0,
         f"certified_radius: must be finite and positive, got {p['certified_radius']}")
    need(0 <= p["langevin_clip_quantile"] <= 1,
         f"langevin_clip_quantile: must lie between 0 and 1 (0: no clipping), got {p['langevin_clip_quantile']}")
    need(math.isfinite(p["langevin_l2"]) and p["langevin_l2"] >= 0,
         f"langevin_l2: must be finite and non-negative (0: no L2 term), got {p['langevin_l2']}")
    bad = [a for a in p["dampening_alphas"] if not a >= 0]  # .inf is allowed: dampens nothing
    need(not bad, f"dampening_alphas: must be non-negative, got {bad}")
    need(p["repair_with"] in REPAIRS, f"repair_with: {p['repair_with']!r} is not a repair; choose from {REPAIRS}")
    n_linear = len(p["hidden_sizes"]) + 1
    for name in ["cfk_layers", "euk_layers"]:
        bad = [k for k in p[name] if not 1 <= k <= n_linear]
        need(not bad, f"{name}: k counts Linear layers from the output, 1 to {n_linear}; got {bad}")
    need(p["salun_branch"] in SALUN_BRANCHES,
         f"salun_branch: unknown {p['salun_branch']!r}{_suggest(p['salun_branch'], SALUN_BRANCHES)}; use one of "
         f"{SALUN_BRANCHES}")


def name_problems(name, what="run_name"):
    """Sentences if ``name`` is not a single folder name: empty, absolute, ``..`` or a path separator."""
    if name and name != "." and "/" not in name and "\\" not in name and ".." not in name:
        return []
    return [f"{what}: {name!r} is not a valid run name; use one folder name, such as 'my-run' "
            "(no '/', '\\' or '..', not empty): the run is written to reports/<name>/"]


def _is_codec(name):
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _cuda_available():
    import torch  # only here: the rest of validation needs no PyTorch

    return torch.cuda.is_available()


def _suggest(name, valid):
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(given, notebook=NOTEBOOK):
    """The full parameter set: defaults overlaid with ``given``, after checking names, types and values.

    Raises ParameterError listing every problem, each with the fix.
    """
    known = defaults(notebook)
    problems = [
        f"unknown parameter {name!r}{_suggest(name, known)}; `papermill --help-notebook {notebook.name}` lists them"
        for name in given if name not in known
    ]
    problems += [msg for name, value in given.items() if name in known
                 if (msg := _type_problem(name, value, known[name]))]
    if not problems:
        params = {**known, **given}
        if params["original_model"]:  # one exported model: the only protocol it has, whatever was given
            params["challenge_protocol"] = "one_original"
        problems = (_value_problems(params, known["methods"]) or splits.problems(params)
                    or (chain.problems(params) if params["original_model"] else []))
    if problems:
        raise ParameterError("bad parameters:\n  - " + "\n  - ".join(problems))
    return params
