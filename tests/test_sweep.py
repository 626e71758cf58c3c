"""Sweeps: a grid of smoke-sized runs on local processes and on a Dask LocalCluster, resumed, and its index page."""

import contextlib
import io
import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from nbutils import NOTEBOOK, PARAMETERS, leaderboard, runner, sweep
from nbutils.__main__ import main

SMALL = {"n_seeds": 1, "challenge_models": 0, "methods": ["gaussian", "layerwise"]}
BASE = ["parameters/default.yaml", "parameters/smoke.yaml"]
FAILING_SEED = 3
CHROMIUM = Path("/usr/bin/chromium")


def write_sweep(path, axes, parameters=SMALL, **more):
    path.write_text(yaml.safe_dump({"base": BASE, "parameters": parameters, "axes": axes, **more}))
    return path


def sweep_command(*args):
    """``python -m nbutils sweep ...`` in this process: (exit code, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["sweep", *map(str, args), "--no-progress"])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory):
    """Four runs on two workers; the notebook raises in the run with train_seed 3, on purpose."""
    tmp = tmp_path_factory.mktemp("sweep")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(
        f'if train_seed == {FAILING_SEED}:\n    raise RuntimeError("failing on purpose")'))
    failing = tmp / "failing.ipynb"
    nbformat.write(nb, failing)
    file = write_sweep(tmp / "smoke.yaml", {"train_seed": [0, 1, 2, FAILING_SEED]})
    args = (file, "--workers", 2, "--notebook", failing, "--reports-dir", tmp / "reports")
    code, output = sweep_command(*args)
    folder = tmp / "reports" / "smoke"
    mtimes = {p: p.stat().st_mtime_ns for p in folder.glob("*/*") if p.name in sweep.COMPLETE_FILES}
    return {"folder": folder, "code": code, "output": output, "args": args, "mtimes": mtimes}


def test_three_runs_complete_and_the_failure_is_recorded(smoke_sweep):
    folder, output = smoke_sweep["folder"], smoke_sweep["output"]
    assert smoke_sweep["code"] == 1, output
    for seed in [0, 1, 2]:
        run = folder / f"train_seed-{seed}"
        assert sweep.read_status(run)["status"] == "ok"
        assert all((run / name).stat().st_size > 0 for name in sweep.COMPLETE_FILES)
        # two workers on this machine's cores: each run gets its share of threads, no more
        threads = json.loads((run / "metrics.json").read_text())["parameters"]["threads"]
        assert threads == max(1, sweep.usable_cores() // 2)
    failed = folder / f"train_seed-{FAILING_SEED}"
    record = sweep.read_status(failed)
    assert record["status"] == "failed" and "failing on purpose" in record["reason"]
    assert "failing on purpose" in (failed / "unlearning.ipynb").read_text()  # the partial notebook stays
    assert not (failed / "unlearning.html").exists() and not (failed / "metrics.json").exists()
    assert f"train_seed-{FAILING_SEED}" in output.split("runs that did not complete")[1]


def test_index_shows_every_run_and_the_failure(smoke_sweep):
    page = (smoke_sweep["folder"] / "index.html").read_text()
    assert page.count('<span class="ok">ok</span>') == 3 and page.count('<span class="failed">failed</span>') == 1
    assert "failing on purpose" in page and page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page  # self-contained


def test_a_rerun_executes_none_of_the_complete_runs(smoke_sweep):
    code, output = sweep_command(*smoke_sweep["args"])
    assert code == 1 and "3 kept from an earlier run" in output
    after = {p: p.stat().st_mtime_ns for p in smoke_sweep["mtimes"]}
    assert after == smoke_sweep["mtimes"]  # not one file of the three complete runs was rewritten
    assert sweep.read_status(smoke_sweep["folder"] / f"train_seed-{FAILING_SEED}")["status"] == "failed"


def test_index_only_rebuilds_the_page_from_the_files(smoke_sweep):
    index = smoke_sweep["folder"] / "index.html"
    index.unlink()
    code, output = sweep_command(*smoke_sweep["args"], "--index-only")
    assert code == 0 and index.is_file() and "failing on purpose" in index.read_text()
    assert {p: p.stat().st_mtime_ns for p in smoke_sweep["mtimes"]} == smoke_sweep["mtimes"]


def test_changed_parameters_are_not_taken_for_complete(smoke_sweep, tmp_path):
    spec = sweep.read_spec(write_sweep(tmp_path / "smoke.yaml", {"train_seed": [0, 1, 2, FAILING_SEED]}))
    threads = max(1, sweep.usable_cores() // 2)
    same = sweep.plan(spec, smoke_sweep["folder"], threads=threads)
    assert [sweep.is_complete(job) for job in same] == [True, True, True, False]
    spec["parameters"] = {**SMALL, "epochs": 4}
    assert not any(sweep.is_complete(job) for job in sweep.plan(spec, smoke_sweep["folder"], threads=threads))


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_index_opens_in_headless_chromium(smoke_sweep):
    from playwright.sync_api import sync_playwright

    index = smoke_sweep["folder"] / "index.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            errors = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(index.as_uri())
            rows = page.locator("table.runs tbody tr").count()
            links = [a.get_attribute("href") for a in page.locator("a").all()]
            images = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
        finally:
            browser.close()
    assert errors == []
    assert rows == 4
    assert len(links) == 4  # three reports and the failed run's notebook
    for href in links:
        assert not urlparse(href).scheme and (index.parent / unquote(href)).is_file(), href
    assert images and all(images)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


def test_a_sweep_runs_on_a_dask_cluster(cluster, tmp_path):
    file = write_sweep(tmp_path / "on-dask.yaml", {"device": ["cpu", "cuda"]})
    code, output = sweep_command(file, "--scheduler", cluster.scheduler_address, "--reports-dir", tmp_path)
    assert code == 0, output
    assert sweep.read_status(tmp_path / "on-dask" / "device-cpu")["status"] == "ok"
    cuda = sweep.read_status(tmp_path / "on-dask" / "device-cuda")
    assert cuda["status"] == "ok" if sweep._cuda_here() else "no CUDA GPU" in cuda["reason"]
    assert (tmp_path / "on-dask" / "index.html").is_file()


def test_the_leaderboard_runs_on_a_two_worker_dask_cluster_and_rebuilds_the_same_from_its_files(cluster, tmp_path):
    spec = PARAMETERS / "sweeps" / "leaderboard-smoke.yaml"
    board = tmp_path / "board" / "leaderboard.md"
    code, output = sweep_command(spec, "--scheduler", cluster.scheduler_address, "--reports-dir", tmp_path,
                                 "--seed", "3", "--leaderboard", board)
    assert code == 0, output
    scenarios = list(yaml.safe_load(spec.read_text())["scenarios"])
    folder = tmp_path / "leaderboard-smoke"
    assert {sweep.read_status(folder / f"scenario-{s}")["status"] for s in scenarios} == {"ok"}
    assert json.loads((folder / sweep.MANIFEST).read_text())["seed"] == 3
    assert {json.loads((folder / f"scenario-{s}" / "metrics.json").read_text())["parameters"]["train_seed"]
            for s in scenarios} == {3}
    text = board.read_text()
    assert board.with_suffix(".png").stat().st_size > 10_000
    assert "## Across scenarios" in text and "## Does noise help, at equal cost?" in text
    assert all(f"| {s} | 2 | " in text for s in scenarios)  # smoke.yaml's sharded model (SISA), each scenario's
    for scenario in scenarios:
        section = text.split(f"## {scenario}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
        assert len(rows) == 5 and rows[0].startswith("| 1 [")  # gaussian, repair, fine-tuning, original, retrain
        assert sum("Leave as is (original)" in row for row in rows) == 1
        assert all("(N=" in row for row in rows)

    table = pd.read_csv(board.with_suffix(".csv"))
    assert list(table.columns) == leaderboard.CSV_COLUMNS
    assert len(table) == 5 * len(scenarios) and set(table["seed"]) == {3}
    assert set(table["against_original"]) <= {"better", "tie", "worse"}
    retrain = table[table["method"] == "retrain"]
    assert np.allclose(retrain["share"], 1) and np.allclose(retrain["cost_share"], 1)
    original = table[table["method"] == "original"]
    assert np.allclose(original[["gain", "gain_lo", "gain_hi"]], 0)
    # gain is the paired difference from the original, in share of the ceiling
    share_of_original = table["scenario"].map(original.set_index("scenario")["share"])
    assert np.allclose(table["gain"], table["share"] - share_of_original, atol=1e-5)  # written to 6 digits
    assert (table["gain_lo"] <= table["gain"]).all() and (table["gain"] <= table["gain_hi"]).all()

    again = tmp_path / "again.md"
    code, output = sweep_command(spec, "--index-only", "--reports-dir", tmp_path, "--leaderboard", again)
    assert code == 0, output
    assert again.read_text() == text.replace("(leaderboard.png)", "(again.png)").replace("(leaderboard-cd.png)",
                                                                                          "(again-cd.png)")
    assert again.with_suffix(".csv").read_text() == board.with_suffix(".csv").read_text()


def test_a_master_seed_sets_every_run_and_refuses_a_second_train_seed(tmp_path):
    file = write_sweep(tmp_path / "seeded.yaml", {"epochs": [1, 2]})
    spec = sweep.with_seed(sweep.read_spec(file), 7)
    assert {job.parameters["train_seed"] for job in sweep.plan(spec, tmp_path / "seeded", threads=1)} == {7}
    clash = write_sweep(tmp_path / "clash.yaml", {"train_seed": [0, 1]})
    with pytest.raises(sweep.SweepError, match="seed sets every run's train_seed, and axes sets train_seed too"):
        sweep.with_seed(sweep.read_spec(clash), 7)
    with pytest.raises(sweep.SweepError, match="seed: expected a whole number"):
        sweep.with_seed(sweep.read_spec(file), -1)


def test_a_worker_without_the_kernel_is_named_before_anything_runs(cluster, tmp_path):
    file = write_sweep(tmp_path / "no-kernel.yaml", {"train_seed": [0]})
    code, output = sweep_command(file, "--scheduler", cluster.scheduler_address, "--kernel", "no-such-kernel",
                                 "--reports-dir", tmp_path)
    assert code == 2
    assert "these Dask workers cannot run the notebook" in output and "tcp://127.0.0.1" in output
    assert "no Jupyter kernel named 'no-such-kernel'" in output
    assert not (tmp_path / "no-kernel").exists()


@pytest.mark.parametrize("spec, message", [
    ({"base": BASE, "axis": {"train_seed": [0]}}, "unknown key 'axis'"),
    ({"base": BASE, "axes": {"train_seed": []}}, "train_seed needs a non-empty list"),
    ({"base": BASE, "axes": {}}, "expected at least one axis"),
    ({"base": ["parameters/nope.yaml"], "axes": {"train_seed": [0]}}, "parameters/nope.yaml does not exist"),
    ({"base": BASE, "axes": {"train_seed": [0]}, "exclude": [{"device": "cuda"}]}, "['device'] are not axes"),
    ({"base": BASE, "axes": {"train_seed": [0]}, "exclude": [{"train_seed": 0}]}, "every combination is excluded"),
    ({"base": BASE, "axes": {"gaussian_sigmas": [[0.1], [-1]]}},
     "gaussian_sigmas--1: bad parameters"),  # the bad combination is named by its slug
])
def test_a_bad_sweep_is_refused_before_anything_runs(tmp_path, spec, message):
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(spec))
    code, output = sweep_command(file, "--reports-dir", tmp_path)
    assert code == 2 and message in output, output
    assert not (tmp_path / "bad").exists()


def test_slugs_are_readable_stable_and_distinct():
    assert sweep.slug({"device": "cpu", "methods": ["gaussian", "fisher"], "train_seed": 0}) == \
        "device-cpu__methods-gaussian+fisher__train_seed-0"
    assert sweep.slug({"methods": []}) == "methods-none"
    odd = [sweep.slug({"layerwise_strategies": {"a": [0.1]}}), sweep.slug({"layerwise_strategies": {"b": [0.1]}})]
    assert odd[0] != odd[1] and all("/" not in s for s in odd)


def test_a_kernel_that_fails_to_start_is_retried(monkeypatch, tmp_path):
    calls = []

    def flaky_execute(notebook, output, **kwargs):
        calls.append(output)
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            cell.metadata["papermill"] = {"start_time": None, "status": "pending"}
        nbformat.write(nb, output)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(runner.papermill, "execute_notebook", flaky_execute)
    out = runner.run([PARAMETERS / "smoke.yaml"], name="retried", reports_dir=tmp_path, progress=False)
    assert len(calls) == 2 and (out / "unlearning.html").is_file()


def test_a_kernel_that_dies_mid_run_is_not_retried(monkeypatch, tmp_path):
    from nbclient.exceptions import DeadKernelError

    calls = []

    def dying_execute(notebook, output, **kwargs):
        calls.append(output)
        nb = nbformat.read(notebook, as_version=4)
        nb.cells[0].metadata["papermill"] = {"start_time": "2026-01-01T00:00:00", "status": "running"}
        nbformat.write(nb, output)
        raise DeadKernelError("Kernel died")

    monkeypatch.setattr(runner.papermill, "execute_notebook", dying_execute)
    with pytest.raises(DeadKernelError):
        runner.run([PARAMETERS / "smoke.yaml"], name="dead", reports_dir=tmp_path, progress=False)
    assert len(calls) == 1 and (tmp_path / "dead" / "unlearning.ipynb").is_file()
    assert sweep.describe(DeadKernelError("Kernel died"), 60).startswith("the kernel died")


def test_the_index_figure_draws_more_methods_than_one_palette_has():
    from nbutils.index import forgetting_figure

    rows = pd.DataFrame([{"dataset": "synthetic", "run": "a", "method": f"m{i}", "setting": "s", "test_acc": 90.0,
                          "forget_acc": 90.0 - i} for i in range(41)]
                        + [{"dataset": "synthetic", "run": "a", "method": m, "setting": "-", "test_acc": 90.0,
                            "forget_acc": 95.0} for m in ("original", "retrain")])
    ax = forgetting_figure(rows).axes[0]
    assert len(ax.get_lines()) == 41
