"""Running the master notebook with papermill and rendering it with nbconvert."""

import os
import tempfile
import uuid
from pathlib import Path

import nbformat
import papermill
import zmq
from jupyter_client.kernelspec import find_kernel_specs
from jupyter_client.manager import AsyncKernelManager
from nbconvert import HTMLExporter
from traitlets import Unicode

from nbutils import IN_SOURCE_TREE, KERNEL, NOTEBOOK, ROOT, params
from nbutils.results import run_folder, write_atomically

TEMPLATES = Path(__file__).parent / "templates"  # report/: the lab template, figures with their alternative text


def render_html(notebook_path, html_path):
    """A self-contained HTML report: code, prompts and logs (stderr: progress bars, warnings) hidden, images
    embedded with their alternative text."""
    nb = nbformat.read(notebook_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(TEMPLATES)], exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    write_atomically(Path(html_path), body)


def run(files=(), overrides=None, name="default", *, reports_dir=None, kernel=KERNEL, cell_timeout=1800, progress=True,
        notebook=NOTEBOOK):
    """Validate the layered parameters, execute the notebook into <reports_dir>/<name>/, render its HTML.

    ``reports_dir`` defaults to the project's reports/; ``name`` must be one folder name.
    Bad parameters raise ParameterError before anything runs. A failing cell
    raises papermill's PapermillExecutionError (a dead kernel DeadKernelError, a
    cell over ``cell_timeout`` CellTimeoutError); the executed notebook, error
    included, stays in reports/<name>/ and no HTML is written. While it runs,
    the notebook is .unlearning.partial.ipynb; an interrupted run leaves it there.
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
    html, executed = out / "unlearning.html", out / "unlearning.ipynb"
    # a failed or interrupted run must not leave an older, complete-looking report or results
    for older in (html, executed, *(out / f for f in ("results.csv", "examples.parquet", "metrics.json"))):
        older.unlink(missing_ok=True)
    partial = out / ".unlearning.partial.ipynb"  # papermill saves after each cell; renamed when execution ends
    try:
        _execute(notebook, partial, given, kernel=kernel, cell_timeout=cell_timeout, progress=progress)
    except Exception:
        if partial.exists():
            os.replace(partial, executed)  # the failed run's notebook, error included
        raise
    os.replace(partial, executed)
    render_html(executed, html)
    return out


class LocalKernelManager(AsyncKernelManager):
    """A kernel on Unix sockets of its own in the temporary folder: nothing listens on the network, so the
    kernel has no reason to warn that it runs over TCP without encryption, and parallel starts race for no port."""

    transport = Unicode("ipc" if os.name == "posix" else "tcp")

    def _ip_default(self):
        if self.transport != "ipc":
            return super()._ip_default()
        return os.path.join(tempfile.gettempdir(), f"nbutils-kernel-{uuid.uuid4().hex[:12]}")  # one prefix per kernel


def _execute(notebook, output, parameters, *, kernel, cell_timeout, progress, kernel_starts=3):
    """papermill.execute_notebook, retrying a kernel that fails to start. The kernel works in the notebook's folder;
    installed without the source tree, in the project root (the working directory), from which its ``nbutils``
    reads relative paths as this process does."""
    cwd = Path(notebook).parent if IN_SOURCE_TREE else ROOT
    for attempt in range(1, kernel_starts + 1):
        try:
            return papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=kernel,
                                              cwd=str(cwd), execution_timeout=cell_timeout,
                                              progress_bar=progress, kernel_manager_class=LocalKernelManager)
        except (RuntimeError, TimeoutError, zmq.ZMQError):
            if attempt == kernel_starts or not _no_cell_started(output):
                raise


def _no_cell_started(executed):
    """Whether papermill's saved notebook shows no cell's start time: the kernel never ran one."""
    if not Path(executed).exists():
        return True
    cells = nbformat.read(executed, as_version=4).cells
    return all(cell.metadata.get("papermill", {}).get("start_time") is None for cell in cells)
