"""The master notebook, executed by papermill on smoke.yaml, and the runner around it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
from bs4 import BeautifulSoup
from papermill.exceptions import PapermillExecutionError
from sklearn.metrics import roc_auc_score

from conftest import SMOKE
from nbutils import KERNEL, NOTEBOOK, PARAMETERS, REPORTS, catalog, params, runner, sisa, tables, verdict
from nbutils.catalog import REFERENCES, SHARDED
from nbutils.challenge import forget_score
from nbutils.columns import COLUMNS, INTERVAL_BOUNDS
from nbutils.data import reading
from nbutils.membership import per_example_attack
from nbutils.methods import METHODS
from nbutils.tables import label

CHROMIUM = Path("/usr/bin/chromium")
FIGURES = 5  # training loss, the sweeps, effectiveness, Pareto, per-row epsilon


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1


def test_smoke_run_writes_every_section(smoke_run):
    for name in ["unlearning.ipynb", "unlearning.html", "results.csv", "examples.parquet", "metrics.json"]:
        assert (smoke_run / name).stat().st_size > 0, name
    results = pd.read_csv(smoke_run / "results.csv")
    assert set(results["method"]) == {*REFERENCES, *METHODS, *SHARDED}
    smoke = params.validate(params.load(SMOKE))
    assert results.groupby("method")["setting"].nunique().to_dict() == {
        **dict.fromkeys(REFERENCES, 1), **{m: len(METHODS[m].settings(smoke)) for m in METHODS},
        **dict.fromkeys(SHARDED, 1)}
    figures = [c for c in results if c not in ("method", "setting", "value", "stage", "replicate", "model")]
    assert set(figures) <= set(COLUMNS) | set(INTERVAL_BOUNDS)  # every figure is a registered column
    assert figures[-len(INTERVAL_BOUNDS):] == INTERVAL_BOUNDS
    n_models = 4  # max(n_seeds, challenge_models): every model is in the tables
    tuning, fresh = results[results["replicate"] == 0], results[results["replicate"] == 2]
    assert len(tuning[tuning["method"] == "gaussian"]) == 2 * n_models  # settings x models
    stages = results.groupby("replicate")["stage"].unique().map(list).to_dict()
    assert stages == {0: ["tuning", "shards"], 1: ["tuning"], 2: ["report"], 3: ["report"]}  # 2 tuning, 2 report
    sharded = results[results["stage"] == "shards"].groupby("method")
    assert (sharded["model"].nunique() == n_models).all() and sharded["cost_share"].first()["sisa"] <= 1
    assert "Exact unlearning by shards" in (smoke_run / "unlearning.html").read_text()
    light = results[results["replicate"] == 1]  # a further tuning replicate: no ceiling, no attacks
    assert "retrain_2" not in set(light["method"]) and light["mia_auc"].isna().all()
    assert light.loc[light["method"].isin(METHODS), "challenge_score"].notna().all()
    assert results.groupby(["method", "setting"])["cost_share"].nunique().max() == 1  # counted: the same everywhere
    assert results.loc[results["method"] == "retrain", "cost_share"].eq(1).all()
    assert results.loc[results["method"].isin(["original", "gaussian"]), "cost_share"].eq(0).all()
    operating = fresh[fresh["method"].isin(METHODS) & (fresh["method"] != "finetune")]
    assert (operating.groupby("method")["setting"].nunique() == 1).all()  # only the operating points run again
    assert len(operating) == n_models * (len(METHODS) - 1)
    assert results.loc[results["model"] >= 2, "mia_efficacy"].isna().all()  # the SVC for the first n_seeds only
    for col in ["method", "setting", "replicate", "model", "attack_acc", "attack_worst", "retain_acc", "forget_acc", "test_acc", "param_dist", "mia_auc",
                "mia_efficacy", "avg_gap", "forget_score", "challenge_score", "seed_quality", "seconds_per_model"]:
        assert col in results, col
    methods = results[results["method"].isin(METHODS)]
    assert methods[["retain_acc", "forget_acc", "test_acc", "param_dist", "challenge_score", "cost_share"]].notna().all().all()
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert {"action", "setting", "gain_over_original", "gain_lo", "gain_hi", "replicates"} <= set(metrics["verdict"])
    assert metrics["parameters"]["n_seeds"] == 2 and metrics["seeds"] == {"data_seed": 42, "train_seed": 0, "noise_seed": 0}
    assert metrics["environment"]["torch"].startswith("2.13")
    assert {s.split(".")[0] for s in metrics["seconds_per_section"]} == {str(i) for i in range(1, 11)}
    html = (smoke_run / "unlearning.html").read_text()
    assert "10. Findings" in html and "data:image/png;base64" in html
    assert "The best method that adds noise to the weights" in html  # against the best that does not
    assert "show_sweep(" not in html  # code is hidden


def test_every_figure_is_in_the_html_with_alt_text_under_agg(smoke_run):
    html = BeautifulSoup((smoke_run / "unlearning.html").read_text(), "html.parser")
    figures = html.select(".jp-RenderedImage img")
    assert len(figures) == FIGURES
    for img in figures:
        assert img["src"].startswith("data:image/png;base64,") and len(img["src"]) > 10_000
        assert len(img["alt"]) > 40 and "No description" not in img["alt"]
    assert not html.select("script[src], link[href^='http']")  # one self-contained file


def test_the_report_opens_with_the_verdict_and_folds_the_long_tables(smoke_run):
    html = BeautifulSoup((smoke_run / "unlearning.html").read_text(), "html.parser")
    headings = [h.get_text(strip=True).rstrip("¶") for h in html.select("h1, h2")]
    assert headings[:3] == ["Noise-based machine unlearning on tabular data", "Verdict", "1. Data"]
    verdict = html.find(id="Verdict").find_next(class_="jp-RenderedMarkdown", attrs={"data-mime-type": "text/markdown"})
    assert "Written when the run reaches section 10" not in verdict.get_text()
    assert len(verdict.select("li")) >= 1 and verdict.select("a[href^='#']")
    for number, name in enumerate(METHODS, 1):  # each method's section, a heading the contents link to
        heading = html.find(id=catalog.anchor(number, name)[1:])
        assert heading.name == "h3" and heading.get_text(strip=True).rstrip("¶") == catalog.heading(number, name)
    folds = html.select("details")
    assert len(folds) == len(METHODS) + 1  # one per method's sweep, and section 9's table
    assert all(not d.has_attr("open") for d in folds)


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_the_report_works_in_headless_chromium(smoke_run):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors, requests = [], []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto((smoke_run / "unlearning.html").as_uri())
            links = page.eval_on_selector_all("a[href^='#']", "as => as.map(a => a.getAttribute('href'))")
            unresolved = page.evaluate(
                "hrefs => hrefs.filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))", links)
            images = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
            verdict_top = page.locator("#Verdict").bounding_box()["y"]
            folded_height = page.locator("details").first.bounding_box()["height"]
            page.locator("details summary").first.click()
            opened_height = page.locator("details").first.bounding_box()["height"]
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert len(links) > 20 and unresolved == []  # the contents, the verdict's links, the headings' own anchors
    assert len(images) == FIGURES and all(images)
    assert verdict_top < 900  # on the first screen
    assert opened_height > 2 * folded_height


def test_the_verdict_in_metrics_is_the_rule_applied_to_results_csv_and_opens_the_report(smoke_run):
    """Recomputed from results.csv alone, the verdict is the one metrics.json records, and the report's first
    point names its action."""
    results = pd.read_csv(smoke_run / "results.csv")
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    tuning, report = results[results["stage"] == "tuning"], results[results["stage"] == "report"]
    points = tables.operating_points(tuning)
    again = verdict.decide(tuning, report, points, metrics["parameters"]["cost_budget"]).as_dict()
    recorded = metrics["verdict"]
    assert again.keys() == recorded.keys()
    for key, value in again.items():  # results.csv keeps 6 digits
        exact = value is None or isinstance(value, str)  # a name, or null for NaN
        assert value == (recorded[key] if exact else pytest.approx(recorded[key], rel=1e-3)), key
    html = BeautifulSoup((smoke_run / "unlearning.html").read_text(), "html.parser")
    first = html.find(id="Verdict").find_next("li").get_text()
    action = metrics["verdict"]["action"]
    opening = {"original": "Leave the model as it is.", "retrain": "Retrain from scratch."}.get(
        action, f"Use {label(action)} ({metrics['verdict']['setting']}).")
    assert first.startswith(opening)
    assert "Selection, checked on fresh models" in html.get_text()


def test_forgetting_figures_recompute_from_examples_parquet(smoke_run):
    """The loss attack's AUC per model, the forget score and the per-example attack per configuration and
    replicate, from examples.parquet alone."""
    results = pd.read_csv(smoke_run / "results.csv")
    examples = pd.read_parquet(smoke_run / "examples.parquet")
    n = json.loads((smoke_run / "metrics.json").read_text())["parameters"]["challenge_models"]
    results = results[results["replicate"].isin(examples["replicate"].unique())  # the replicates scored in full
                      & (results["stage"] != "shards")]  # the sharded rows keep no examples
    assert set(results["replicate"]) == {0, 2, 3}
    for (replicate, method, setting), rows in results.groupby(["replicate", "method", "setting"]):
        here = examples[examples["replicate"] == replicate]
        retrained = here[(here["method"] == "retrain") & (here["split"] == "forget") & (here["model"] < n)]
        retrained = retrained.pivot(index="model", columns="row_id", values="confidence")
        mine = here[(here["method"] == method) & (here["setting"] == setting)]
        for model, row in rows.set_index("model").iterrows():
            attack = mine[(mine["model"] == model) & mine["split"].isin(["forget", "test"])]
            auc = roc_auc_score(attack["split"] == "forget", -attack["loss"])
            assert auc == pytest.approx(row["mia_auc"], rel=1e-5), (method, setting, model)
        if method == "retrain":
            continue
        forget = mine[(mine["split"] == "forget") & (mine["model"] < n)]
        confidences = forget.pivot(index="model", columns="row_id", values="confidence")[retrained.columns]
        score = forget_score(confidences.to_numpy(), retrained.to_numpy())
        assert score == pytest.approx(rows["forget_score"].iloc[0], rel=1e-5), (method, setting)
        assert forget[forget["model"] == 0]["points"].mean() == pytest.approx(score)
        row_attack = per_example_attack(confidences.to_numpy(), retrained.to_numpy())
        assert row_attack.mean() == pytest.approx(rows["attack_acc"].iloc[0], rel=1e-5), (method, setting)
        stored = forget[forget["model"] == 0].set_index("row_id")["attack_acc"][retrained.columns]
        np.testing.assert_allclose(stored.to_numpy(), row_attack, rtol=1e-6)


def test_a_report_replicate_draws_a_fresh_forget_set_and_keeps_the_test_set(smoke_run):
    examples = pd.read_parquet(smoke_run / "examples.parquet", columns=["method", "replicate", "split", "row_id"])
    rows = examples[examples["method"] == "original"]
    sets = {(r, split): set(g["row_id"]) for (r, split), g in rows.groupby(["replicate", "split"], observed=True)}
    assert sets[(0, "test")] == sets[(2, "test")]
    assert sets[(0, "forget")] != sets[(2, "forget")] and len(sets[(0, "forget")]) == len(sets[(2, "forget")])


def test_the_competitions_protocol_unlearns_one_original_n_times():
    out = runner.run(SMOKE, {"methods": ["gaussian"], "challenge_protocol": "one_original", "report_replicates": 2},
                     name="pytest-one-original", progress=False)
    try:
        results = pd.read_csv(out / "results.csv")
        original = results[results["method"] == "original"]
        assert (original.groupby("replicate")["test_acc"].nunique() == 1).all()  # N copies of one model
        gaussian = results[(results["method"] == "gaussian") & (results["replicate"] == 0)]
        assert gaussian.groupby("setting")["param_dist"].nunique().min() > 1  # each copy drew its own noise
        assert set(results["replicate"]) == {0, 1, 2, 3}
        html = (out / "unlearning.html").read_text()
        assert "one_original" in html and "t intervals over the 2 report replicates" in html
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_same_parameters_give_the_same_numbers_cost_shares_and_verdict_under_load(smoke_run):
    """The rerun shares the machine with two processes that keep every core busy: seconds change, the counted
    cost and everything decided from it do not."""
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        again = runner.run(SMOKE, name="pytest-smoke-again", progress=False)
    finally:
        for process in load:
            process.kill()
    try:
        first, second = (pd.read_csv(d / "results.csv").drop(columns="seconds_per_model") for d in (smoke_run, again))
        pd.testing.assert_frame_equal(first, second)  # cost_share included
        verdicts = [json.loads((d / "metrics.json").read_text())["verdict"] for d in (smoke_run, again)]
        assert verdicts[0] == verdicts[1]
        weights = [(d / "model" / "model.safetensors").read_bytes() for d in (smoke_run, again)]
        assert weights[0] == weights[1]  # the exported model too
    finally:
        shutil.rmtree(again, ignore_errors=True)


def test_a_left_out_method_is_skipped_and_the_rest_runs(tmp_path):
    out = runner.run(SMOKE, {"methods": ["gaussian", "layerwise"], "n_seeds": 4, "challenge_models": 3},
                     name="pytest-two-methods", progress=False)
    try:
        results = pd.read_csv(out / "results.csv")
        assert set(results["method"]) == {"original", "retrain", "retrain_2", "gaussian", "layerwise", *sisa.NAMES}
        assert (results.groupby("method")["model"].nunique() == 4).all()  # more table models than challenge ones
        assert "Laplacian: skipped" in (out / "unlearning.html").read_text()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_no_method_one_seed_and_no_challenge_still_report():
    out = runner.run(SMOKE, {"methods": [], "n_seeds": 1, "challenge_models": 0}, name="pytest-bare", progress=False)
    try:
        results = pd.read_csv(out / "results.csv")
        monolithic = results[results["stage"] != "shards"]
        assert monolithic["method"].tolist() == ["original", "retrain"] * 4  # two tuning and two report replicates
        sharded = results.loc[results["stage"] == "shards", "method"].tolist()
        assert sharded == ["sharded", "sisa", "sharded_retrain"]  # one model each; no ceiling without the score
        assert "No unlearning method ran" in (out / "unlearning.html").read_text()
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.parametrize("files, expected", [
    (["datasets/penguins.yaml", "forget/penguins_class.yaml"], "Forget the whole class <code>Chinstrap</code>"),
    (["datasets/example.yaml"], "forget_ids.txt"),
])
def test_a_users_table_and_deletion_request_run_end_to_end(files, expected):
    name = "pytest-" + files[0].split("/")[1].removesuffix(".yaml")
    out = runner.run([*SMOKE, *(PARAMETERS / f for f in files)], name=name, progress=False)
    try:
        examples = pd.read_parquet(out / "examples.parquet")
        request = params.load([PARAMETERS / f for f in files])
        table = reading.read(params.validate(request))
        assert set(examples["label"].cat.categories) == set(table.class_names)  # labels as the table spells them
        forgotten = set(examples.loc[examples["split"] == "forget", "row_id"])
        tested = set(examples.loc[examples["split"] == "test", "row_id"])
        assert forgotten and not forgotten & tested
        assert expected in (out / "unlearning.html").read_text()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_cli_refuses_a_missing_table_before_running():
    name = "pytest-never-created"
    done = subprocess.run([sys.executable, "-m", "nbutils", "run", "-f", str(SMOKE[1]), "-p", "dataset",
                           "csv:no/such/table.csv", "-p", "target", "y", "--name", name], capture_output=True, text=True)
    assert done.returncode == 2 and "no/such/table.csv" in done.stderr
    assert not (REPORTS / name).exists()


def test_plain_papermill_refuses_an_unknown_parameter(tmp_path):
    with pytest.raises(PapermillExecutionError, match="did you mean 'n_samples'"):
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), parameters={"n_sample": 10},
                                   kernel_name=KERNEL, progress_bar=False)


def test_cli_refuses_bad_parameters_before_running():
    name = "pytest-never-created"
    done = subprocess.run([sys.executable, "-m", "nbutils", "run", "-f", str(SMOKE[1]), "-p", "gaussian_sigmas",
                           "[-1]", "--name", name], capture_output=True, text=True)
    assert done.returncode == 2
    assert "gaussian_sigmas: noise levels must be finite and non-negative" in done.stderr
    assert not (REPORTS / name).exists()


def test_cli_refuses_a_name_outside_reports_before_running(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nbutils", "run", "-f", str(SMOKE[1]), "--name", "../../outside"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "is not a valid run name" in done.stderr
    assert not (REPORTS.parent.parent / "outside").exists()


def test_a_failed_run_keeps_its_notebook_and_writes_no_html(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell('raise RuntimeError("boom")'))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    name = "pytest-failed"
    (REPORTS / name).mkdir(parents=True, exist_ok=True)
    (REPORTS / name / "unlearning.html").write_text("an older report")
    try:
        with pytest.raises(PapermillExecutionError, match="boom"):
            runner.run(SMOKE, name=name, progress=False, notebook=broken)
        assert "boom" in (REPORTS / name / "unlearning.ipynb").read_text()
        assert not (REPORTS / name / "unlearning.html").exists()
    finally:
        shutil.rmtree(REPORTS / name, ignore_errors=True)


def test_cli_help_explains_every_command():
    done = subprocess.run([sys.executable, "-m", "nbutils", "run", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for flag in ["--file", "--parameter", "--name", "--kernel", "--cell-timeout"]:
        assert flag in done.stdout


def test_runs_top_to_bottom_in_a_kernel_and_reruns_after_an_edit():
    """As in JupyterLab: no papermill, the user edits the parameters cell and re-runs from there."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    smoke = params.load([SMOKE[1]])
    nb.cells[index].source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in {**smoke, "run_name": "pytest-kernel"}.items())
    client = NotebookClient(nb, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)
            first = pd.read_csv(REPORTS / "pytest-kernel" / "results.csv")
            nb.cells[index].source += '\nepochs = 2\nmethods = ["gaussian"]'  # the rerun: one method is enough
            for i in range(index, len(nb.cells)):
                client.execute_cell(nb.cells[i], i)
        assert set(first["method"]) >= set(METHODS)
        results = pd.read_csv(REPORTS / "pytest-kernel" / "results.csv")
        assert set(results["method"]) == {*REFERENCES, *SHARDED, "gaussian"}
        assert json.loads((REPORTS / "pytest-kernel" / "metrics.json").read_text())["parameters"]["epochs"] == 2
    finally:
        shutil.rmtree(REPORTS / "pytest-kernel", ignore_errors=True)
