"""The model a run's verdict chose, exported and loaded back, and later deletion requests on it, chained."""

import hashlib
import json
import shutil
import types
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
import torch

import nbutils
from conftest import CPU, SMOKE
from nbutils import PARAMETERS, chain, evaluation, export, params, runner, runtime
from nbutils.data import forget_requests, reading, tensors
from nbutils.train import fit_ensemble

LATER = {"methods": ["gaussian", "finetune", "neggrad"]}  # a later request at smoke size, on fewer methods
N_REQUESTED = 15  # rows each later request names


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_rows(model, n, skip=0):
    """``n`` row positions (text) the model in folder ``model`` trained on and its chain has not forgotten."""
    used = set(chain.read_ids(model, chain.TEST_IDS)) | set(chain.forgotten_so_far(model))
    table = reading.read(params.validate(params.load(SMOKE)))
    return [str(i) for i in table.ids if str(i) not in used][skip:skip + n]


def id_list(path, ids):
    path.write_text("".join(f"{i}\n" for i in ids))
    return f"ids:{path}"


def refusal(**given):
    """The problems ``params.validate`` names for the smoke parameters with ``given``, as one text ("" if none)."""
    try:
        params.validate({**params.load(SMOKE), **given})
    except params.ParameterError as error:
        return str(error)
    return ""


@pytest.mark.parametrize("files", [[], ["datasets/example.yaml"]], ids=["synthetic", "example"])
def test_the_loaded_model_predicts_as_the_model_in_memory_on_raw_rows(tmp_path, files):
    """The synthetic table, and the example's: categorical columns, missing values, an id column, text labels."""
    P = params.validate(params.load([*SMOKE, *(PARAMETERS / f for f in files)]))
    dataset, table = tensors.load(P), reading.read(P)
    network, _, _ = fit_ensemble({**P, "n_classes": dataset.n_classes}, dataset.splits.X_train,
                                 dataset.splits.y_train, 1, runtime.generator(CPU, 0, "export-test"), progress=False)
    entry = {"model": {"n_features": dataset.n_features, "hidden_sizes": P["hidden_sizes"],
                       "n_classes": dataset.n_classes, "dropout": P["dropout"]},
             "table": {"numeric": table.numeric, "categorical": table.categorical}}
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "stale.txt").write_text("from an older export")
    export.write(folder, network, dataset.preprocessing, entry, dataset.ids["forget"], dataset.ids["test"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no partial folder left
    assert not (folder / "stale.txt").exists()  # replaced whole
    loaded = nbutils.load_model(folder)
    position = {i: n for n, i in enumerate(table.ids)}
    raw = table.frame.iloc[[position[i] for i in dataset.ids["test"]]]
    with torch.no_grad():
        in_memory = torch.softmax(network.eval()(dataset.splits.X_test)[0].T.double(), dim=-1).numpy()
    np.testing.assert_allclose(loaded.predict_proba(raw), in_memory, atol=1e-6, rtol=0)
    np.testing.assert_allclose(loaded.predict_proba(raw.drop(columns=table.target)), in_memory, atol=1e-6, rtol=0)
    assert list(loaded.predict(raw)) == [dataset.class_names[k] for k in in_memory.argmax(axis=1)]
    assert list(loaded.classes_) == dataset.class_names
    with pytest.raises(ValueError, match=table.numeric[0]):
        loaded.predict_proba(raw.drop(columns=table.numeric[0]))
    record = json.loads((folder / chain.RECORD).read_text())
    assert all(record["files_sha256"][name] == sha256(folder / name) for name in record["files_sha256"])


def test_a_run_exports_the_model_its_verdict_chose_with_its_record(smoke_run):
    folder = smoke_run / "model"
    record = json.loads((folder / chain.RECORD).read_text())
    verdict = json.loads((smoke_run / "metrics.json").read_text())["verdict"]
    assert (record["action"]["action"], record["action"]["setting"]) == (verdict["action"], verdict["setting"])
    assert record["evidence"]["verdict"] == verdict and record["parent"] is None
    examples = pd.read_parquet(smoke_run / "examples.parquet", columns=["replicate", "split", "row_id"])
    first = examples[examples["replicate"] == 0]
    for split, name in (("forget", chain.FORGOTTEN_IDS), ("test", chain.TEST_IDS)):
        assert chain.read_ids(folder, name) == chain.sorted_ids(first.loc[first["split"] == split, "row_id"].unique())
    forgotten = chain.read_ids(folder, chain.FORGOTTEN_IDS)
    assert record["request"]["rows_forgotten"] == len(forgotten) > 0
    assert record["request"]["forgotten_ids_sha256"] == sha256(folder / chain.FORGOTTEN_IDS)
    P = params.validate(params.load(SMOKE))
    assert record["table"]["sha256"] == chain.table_sha256(P, reading.read(P))[0] and record["table"]["rows"] == 300
    assert record["environment"]["torch"] == version("torch") and record["created_utc"].endswith("+00:00")
    # The exported model is the first model of tuning replicate 0: as the results scored it on the test rows.
    results = pd.read_csv(smoke_run / "results.csv")
    scored = {"original": "original", "retrain": "retrain"}.get(verdict["action"], verdict["action"])
    row = results[(results["method"] == scored) & (results["replicate"] == 0) & (results["model"] == 0)
                  & (results["setting"] == verdict["setting"])]
    assert record["cost"]["cost_share"] == pytest.approx(row["cost_share"].iloc[0])
    if verdict["action"] in ("original", "retrain"):  # a method's draws differ on one model from on four
        assert accuracy_on_test_rows(folder) == pytest.approx(row["test_acc"].iloc[0])


def accuracy_on_test_rows(folder):
    """Test accuracy (percent) of the model in ``folder``, loaded and run on the raw rows of its test ids."""
    table = reading.read(params.validate(params.load(SMOKE)))
    rows = table.frame.iloc[[int(i) for i in chain.read_ids(folder, chain.TEST_IDS)]]
    return 100 * np.mean(nbutils.load_model(folder).predict(rows) == rows[table.target].astype(str).to_numpy())


def test_a_request_on_another_table_or_columns_is_refused(smoke_run, tmp_path):
    model = smoke_run / "model"
    request = id_list(tmp_path / "ids.txt", free_rows(model, N_REQUESTED))
    assert refusal(original_model=str(model), forget=request) == ""
    assert "data_seed: the model" in refusal(original_model=str(model), forget=request, data_seed=7)
    assert "drop_columns: the model" in refusal(original_model=str(model), forget=request, drop_columns=["x3"])
    for change, expected in [({"sha256": "0" * 64}, "not the table the model was trained on"),
                             ({"numeric": [f"x{i}" for i in range(19)] + ["x20"]}, "['x19'] not in the model's")]:
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(model, copy)
        record = json.loads((copy / chain.RECORD).read_text())
        record["table"].update(change)
        (copy / chain.RECORD).write_text(json.dumps(record))
        assert expected in refusal(original_model=str(copy), forget=request)
    with pytest.raises(params.ParameterError, match="random draws a new forget set"):
        runner.run(SMOKE, {"original_model": str(model)}, name="refused", reports_dir=tmp_path)
    assert not (tmp_path / "refused").exists()  # refused before anything ran


def test_rows_forgotten_before_or_never_trained_on_are_refused(smoke_run, tmp_path):
    model = smoke_run / "model"
    forgotten = chain.read_ids(model, chain.FORGOTTEN_IDS)
    again = id_list(tmp_path / "again.txt", [*free_rows(model, N_REQUESTED), *forgotten[:3]])
    assert f"3 of the {N_REQUESTED + 3} requested ids were already forgotten" in refusal(
        original_model=str(model), forget=again)
    test_row = chain.read_ids(model, chain.TEST_IDS)[0]
    held_out = id_list(tmp_path / "test.txt", [*free_rows(model, N_REQUESTED), test_row])
    assert "ids are test rows the model never trained on" in refusal(original_model=str(model), forget=held_out)


def test_three_requests_in_a_chain_each_start_from_the_last_export(smoke_run, tmp_path):
    folders, previous = [smoke_run / "model"], smoke_run / "model"
    for number in (2, 3):
        request = id_list(tmp_path / f"request-{number}.txt", free_rows(previous, N_REQUESTED))
        out = runner.run(SMOKE, {**LATER, "original_model": str(previous), "forget": request},
                         name=f"request-{number}", reports_dir=tmp_path, progress=False)
        previous = out / "model"
        folders.append(previous)
        results = pd.read_csv(out / "results.csv")
        original = results[results["method"] == "original"]
        # the loaded model, unlearned with one_original's copies: each copy scores as the model itself
        assert original.groupby("replicate")["test_acc"].nunique().eq(1).all()
        assert original["test_acc"].iloc[0] == pytest.approx(accuracy_on_test_rows(folders[-2]))
        retain = pd.read_parquet(out / "examples.parquet", columns=["split", "row_id"]).query("split == 'retain'")
        assert not set(retain["row_id"].astype(str)) & set(chain.forgotten_so_far(previous))
    records = [json.loads((f / chain.RECORD).read_text()) for f in folders]
    for parent, child, record in zip(folders, folders[1:], records[1:]):
        assert chain.folder(record["parent"]["path"]) == parent.resolve()
        assert record["parent"]["sha256"] == sha256(parent / chain.RECORD)
        assert record["request"]["rows_forgotten"] == N_REQUESTED
        assert chain.read_ids(child, chain.TEST_IDS) == chain.read_ids(parent, chain.TEST_IDS)
    assert [f for f, _ in chain.ancestry(folders[-1])] == [f.resolve() for f in reversed(folders)]
    ids = [set(chain.read_ids(f, chain.FORGOTTEN_IDS)) for f in folders]
    assert set.union(*ids) == set(chain.forgotten_so_far(folders[-1])) and sum(map(len, ids)) == len(set.union(*ids))
    n_test = len(chain.read_ids(folders[0], chain.TEST_IDS))
    assert records[-1]["split"]["retain_rows"] == 300 - n_test - sum(map(len, ids))
    repeated = id_list(tmp_path / "repeated.txt", chain.read_ids(folders[1], chain.FORGOTTEN_IDS))
    assert "already forgotten by" in refusal(original_model=str(folders[-1]), forget=repeated)
    fresh = id_list(tmp_path / "fresh.txt", free_rows(folders[-1], N_REQUESTED))
    assert refusal(original_model=str(folders[-1]), forget=fresh) == ""
    (folders[1] / chain.RECORD).write_text((folders[1] / chain.RECORD).read_text() + " ")  # edited after its export
    assert "changed after" in refusal(original_model=str(folders[-1]), forget=fresh)


def test_a_condition_forgets_only_the_rows_the_model_still_holds(smoke_run):
    model = smoke_run / "model"
    P = params.validate({**params.load(SMOKE), "original_model": str(model), "forget": "where:x0 > 0"})
    table = reading.read(P)
    split = chain.rows(table, forget_requests.forget_request(table, P), P)
    held_out = set(chain.read_ids(model, chain.TEST_IDS)) | set(chain.forgotten_so_far(model))
    named = {str(i) for i in table.ids[table.frame["x0"].to_numpy() > 0]}
    assert {str(i) for i in table.ids[split.forget]} == named - held_out and named & held_out
    parts = [{str(i) for i in table.ids[rows]} for rows in (split.retain, split.forget, split.test)]
    assert sum(map(len, parts)) + len(chain.forgotten_so_far(model)) == len(table.ids)  # a partition of the table
    assert set.union(*parts, set(chain.forgotten_so_far(model))) == {str(i) for i in table.ids}


@pytest.fixture(scope="module")
def smoke_references():
    """(parameters, data, tuning references) of the smoke parameters, shared by the actions below."""
    P = params.validate(params.load(SMOKE))
    dataset = tensors.load(P)
    return P, dataset, evaluation.train_references(P, dataset, CPU)


@pytest.mark.parametrize("action", ["original", "retrain", "finetune"])
def test_the_chosen_model_is_the_verdicts_action_on_the_first_model(action, smoke_references):
    P, dataset, tuning = smoke_references
    setting = "-" if action in ("original", "retrain") else "steps=5"
    decision = types.SimpleNamespace(action=action, setting=setting)
    model, macs, seconds, _ = export.chosen_model(decision, P, dataset, tuning, CPU)
    assert model.n_models == 1
    if action == "finetune":  # the same work per model as the sweep's, counted: one model or four
        (scored,) = [s for s in evaluation.sweep(action, P, tuning, CPU) if s.config == (action, setting)]
        assert macs / tuning.reference.retrain_macs == pytest.approx(scored.rows["cost_share"].iloc[0])
        assert macs > 0 and seconds > 0
        return
    source = tuning.reference.original if action == "original" else tuning.retrain
    for exported_tensor, trained in zip(model.state_dict().values(), source.state_dict().values()):
        torch.testing.assert_close(exported_tensor, trained[:1], rtol=0, atol=0)
    assert macs == (0 if action == "original" else tuning.reference.retrain_macs)
