"""Running the master notebook with papermill and rendering it with nbconvert."""

from pathlib import Path

import nbformat
import papermill
from jupyter_client.kernelspec import find_kernel_specs
from nbconvert import HTMLExporter

from nbutils import KERNEL, NOTEBOOK, params
from nbutils.results import run_folder, write_atomically


def render_html(notebook_path, html_path):
    """A self-contained HTML report: code, prompts and logs (stderr: progress bars, warnings) hidden, images embedded."""
    nb = nbformat.read(notebook_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    write_atomically(Path(html_path), body)


def run(files=(), overrides=None, name="default", *, reports_dir=None, kernel=KERNEL, cell_timeout=1800, progress=True,
        notebook=NOTEBOOK):
    """Validate the layered parameters, execute the notebook into <reports_dir>/<name>/, render its HTML.

    ``reports_dir`` defaults to the project's reports/; ``name`` must be one folder name.
    Bad parameters raise ParameterError before anything runs. A failing cell
    raises papermill's PapermillExecutionError; the executed notebook, error
    included, stays in reports/<name>/ and no HTML is written.
    """
    given = params.load(files, overrides)
    given["run_name"] = name
    if reports_dir is not None:
        given["reports_dir"] = str(Path(reports_dir).resolve())
    validated = params.validate(given, notebook)
    if kernel not in find_kernel_specs():
        raise RuntimeError(f"no Jupyter kernel named {kernel!r}; run `make setup` (or "
                           f"`python -m ipykernel install --sys-prefix --name {kernel}`) first")
    out = run_folder(validated)
    out.mkdir(parents=True, exist_ok=True)
    html = out / "unlearning.html"
    html.unlink(missing_ok=True)  # a failed run must not leave an older, complete-looking report
    executed = out / "unlearning.ipynb"
    papermill.execute_notebook(str(notebook), str(executed), parameters=given, kernel_name=kernel,
                               cwd=str(Path(notebook).parent), execution_timeout=cell_timeout, progress_bar=progress)
    render_html(executed, html)
    return out
