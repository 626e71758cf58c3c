"""The model a run's verdict chose, written to ``<run>/model/`` with a deletion record of what was done.

The verdict's action applied to the first original model of the first tuning replicate: a method at its
operating point (run again on that one model, from the stream the sweep used), the untouched original, or the
first retrained model. The folder holds the weights (``model.safetensors``), the fitted preprocessing
(``preprocessing.skops``: the column transformer and the label encoder, never pickle), the ids forgotten by this
request and the first model's test ids (sorted, one a line) and ``deletion-record.json``: the table, the
request, the action, its cost and seconds, the fresh evidence behind it, the parent record and the versions.
Every file is written whole (``results.replaced_when_written``) into a new folder, which then replaces the old.
"""

import hashlib
import json
import shutil
import time
from datetime import UTC, datetime

import numpy as np
import skops.io
from safetensors.torch import save_file

from nbutils import chain, cost, evaluation, runtime
from nbutils.catalog import CEILING, ORIGINAL, RETRAIN
from nbutils.data import reading
from nbutils.methods import METHODS
from nbutils.results import replaced_when_written, write_atomically


def chosen_model(decision, P, dataset, tuning, device):
    """(the chosen one-model ensemble, its multiply-adds, its seconds, its random stream or None)."""
    original = evaluation.first_model_copies(tuning.reference.original, 1)
    if decision.action == ORIGINAL:
        return original, 0, 0.0, None
    if decision.action == RETRAIN:
        return (evaluation.first_model_copies(tuning.retrain, 1), tuning.reference.retrain_macs,
                tuning.seconds["retrain"] / tuning.retrain.n_models, ["retrain", P["train_seed"]])
    method = METHODS[decision.action]
    generator = evaluation.method_generator(device, P, decision.action, decision.setting)
    start = time.perf_counter()
    with cost.counted() as work:
        model = method.apply(original, method.settings(P)[decision.setting], generator, dataset.splits, P)
    stream = ["noise", P["noise_seed"], decision.action, decision.setting]
    return model, work.macs, time.perf_counter() - start, stream


def evidence(decision, report_results):
    """The verdict's fresh figures and the per-example attack on the forget rows of the configuration it rests
    on (for ``retrain``, the second retrained ensemble: the ceiling), per report replicate and their mean."""
    config = {ORIGINAL: (ORIGINAL, "-"), RETRAIN: (CEILING, "-")}.get(
        decision.action, (decision.action, decision.setting))
    rows = report_results[(report_results["method"] == config[0]) & (report_results["setting"] == config[1])]
    per_replicate = rows.groupby("replicate")[["attack_acc", "attack_worst"]].first()
    return {"verdict": decision.as_dict(), "attack_of": list(config),
            "attack_acc": float(per_replicate["attack_acc"].mean()),
            "attack_worst": float(per_replicate["attack_worst"].mean()),
            "attack_acc_per_replicate": per_replicate["attack_acc"].round(6).tolist()}


def record(P, dataset, decision, macs, seconds, stream, report_results, retrain_macs, device):
    """The deletion record as a dict (the file SHA-256s are added by :func:`write`)."""
    table = reading.read(P)
    sha, of = chain.table_sha256(P, table)
    forgotten = chain.ids_text(dataset.ids["forget"]).encode()  # the bytes of forgotten-ids.txt
    parent = None
    if P["original_model"]:
        path = chain.folder(P["original_model"])
        parent = {"path": chain.shown(path), "sha256": chain.sha256_file(path / chain.RECORD)}
    network = {"n_features": dataset.n_features, "hidden_sizes": P["hidden_sizes"], "n_classes": dataset.n_classes,
               "dropout": P["dropout"], "class_names": dataset.class_names}
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": P["run_name"],
        "parent": parent,
        "table": {"dataset": P["dataset"], "sha256": sha, "sha256_of": of, "rows": table.frame.shape[0],
                  "columns": table.frame.shape[1], "target": table.target, "id_column": table.id_column,
                  "numeric": table.numeric, "categorical": table.categorical},
        "request": {"forget": P["forget"], "kind": dataset.request.kind, "rows_forgotten": len(dataset.ids["forget"]),
                    "forgotten_ids_sha256": hashlib.sha256(forgotten).hexdigest(),
                    "forgotten_ids_file": chain.FORGOTTEN_IDS},
        "split": {"test_rows": len(dataset.ids["test"]), "retain_rows": len(dataset.ids["retain"]),
                  "test_ids_file": chain.TEST_IDS, "stratified": dataset.stratified},
        "action": {"action": decision.action, "setting": decision.setting,
                   "value": _plain(METHODS[decision.action].settings(P)[decision.setting])
                   if decision.action in METHODS else None,
                   "applied_to": "the first original model of tuning replicate 0"
                   if decision.action != RETRAIN else "the first retrained model of tuning replicate 0",
                   "seeds": {k: P[k] for k in ("data_seed", "train_seed", "noise_seed")}, "random_stream": stream},
        "cost": {"macs": int(macs), "cost_share": macs / retrain_macs, "retrain_macs": retrain_macs,
                 "seconds": round(seconds, 4), "device": str(device)},
        "evidence": evidence(decision, report_results),
        "parameters": chain.parameters_kept(P),
        "model": network,
        "environment": {k: v for k, v in runtime.environment(device).items() if k != "peak_memory_mib"},
    }


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def write(folder, network, preprocessing, entry, forgotten_ids, test_ids):
    """Write an exported model into ``folder``: each file whole in a new folder, which then replaces ``folder``
    (an older export is removed only once the new one is complete). Returns ``folder``."""
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    with replaced_when_written(partial / chain.WEIGHTS) as tmp:
        save_file(state, tmp)
    with replaced_when_written(partial / chain.PREPROCESSING) as tmp:
        skops.io.dump(preprocessing, tmp)
    write_atomically(partial / chain.FORGOTTEN_IDS, chain.ids_text(forgotten_ids))
    write_atomically(partial / chain.TEST_IDS, chain.ids_text(test_ids))
    entry = {**entry, "files_sha256": {name: chain.sha256_file(partial / name) for name in
                                       (chain.WEIGHTS, chain.PREPROCESSING, chain.FORGOTTEN_IDS, chain.TEST_IDS)}}
    write_atomically(partial / chain.RECORD, json.dumps(entry, indent=2, default=_json))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def _json(value):
    return value.item() if isinstance(value, np.generic) else str(value)


def export(out, P, dataset, tuning, decision, report_results, device):
    """Export the model ``decision`` (the run's :class:`~nbutils.verdict.Verdict`) chose to ``out``/model and
    say so; without a verdict (``challenge_models: 0``) nothing is exported."""
    if decision is None:
        print("no verdict (challenge_models: 0), so no model was exported")
        return None
    network, macs, seconds, stream = chosen_model(decision, P, dataset, tuning, device)
    entry = record(P, dataset, decision, macs, seconds, stream, report_results, tuning.reference.retrain_macs, device)
    test_ids = chain.read_ids(P["original_model"], chain.TEST_IDS) if P["original_model"] else dataset.ids["test"]
    folder = write(out / "model", network, dataset.preprocessing, entry, dataset.ids["forget"], test_ids)
    print(f"exported {decision.action} ({decision.setting}) to {folder}/: {entry['request']['rows_forgotten']} rows "
          f"forgotten, {entry['cost']['cost_share']:.1%} of retraining's work")
    return folder
