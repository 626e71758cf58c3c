"""Running the master notebook with papermill, rendering it with nbconvert, and writing a run's files."""

import json
import os
from pathlib import Path

import nbformat
import papermill
from jupyter_client.kernelspec import find_kernel_specs
from nbconvert import HTMLExporter

from nbutils import KERNEL, NOTEBOOK, REPORTS, params


def _write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_results(results, summary, run_params, environment, seconds):
    """Write results.csv and metrics.json into reports/<run_name>/; returns that folder."""
    out = REPORTS / run_params["run_name"]
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(out / "results.csv", results.to_csv(index=False, float_format="%.6g"))
    metrics = {
        "parameters": run_params,
        "seeds": {k: run_params[k] for k in ("data_seed", "train_seed", "noise_seed")},
        "environment": environment,
        "seconds_per_section": {k: round(v, 3) for k, v in seconds.items()},
        "summary": summary.reset_index(names="configuration").to_dict(orient="records"),
    }
    _write_atomically(out / "metrics.json", json.dumps(metrics, indent=2, default=str))
    return out


def render_html(notebook_path, html_path):
    """A self-contained HTML report: code, prompts and logs (stderr: progress bars, warnings) hidden, images embedded."""
    nb = nbformat.read(notebook_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    _write_atomically(Path(html_path), body)


def run(files=(), overrides=None, name="default", *, kernel=KERNEL, cell_timeout=1800, progress=True, notebook=NOTEBOOK):
    """Validate the layered parameters, execute the notebook into reports/<name>/, render its HTML.

    Bad parameters raise ParameterError before anything runs. A failing cell
    raises papermill's PapermillExecutionError; the executed notebook, error
    included, stays in reports/<name>/ and no HTML is written.
    """
    given = params.load(files, overrides)
    given["run_name"] = name
    params.validate(given, notebook)
    if kernel not in find_kernel_specs():
        raise RuntimeError(f"no Jupyter kernel named {kernel!r}; run `make setup` (or "
                           f"`python -m ipykernel install --sys-prefix --name {kernel}`) first")
    out = REPORTS / name
    out.mkdir(parents=True, exist_ok=True)
    html = out / "unlearning.html"
    html.unlink(missing_ok=True)  # a failed run must not leave an older, complete-looking report
    executed = out / "unlearning.ipynb"
    papermill.execute_notebook(str(notebook), str(executed), parameters=given, kernel_name=kernel,
                               cwd=str(NOTEBOOK.parent), execution_timeout=cell_timeout, progress_bar=progress)
    render_html(executed, html)
    return out
