"""Sweeps: a grid of notebook runs from one YAML file, in local processes or on a Dask cluster.

A sweep file names base parameter files, fixed ``parameters``, named ``scenarios`` (each a mapping of
parameters that go together, such as a table and its forget request), ``axes`` to cross with them,
combinations to ``exclude`` and a master ``seed``, every run's ``train_seed`` (its models, method draws and random
forget sets). Each combination is one :func:`nbutils.runner.run` in ``<reports_dir>/<sweep>/<slug>/``,
where the slug is built from the values that vary (``methods-gaussian__train_seed-0``). Every
combination is validated before any run starts. Each run leaves ``sweep-run.json``, its status record,
written when it ends; a run whose record says ``ok`` for the same parameters (compared by hash) is kept,
not rerun. Local runs and Dask runs take the same path: a ``concurrent.futures`` executor, one task per run.
"""

import hashlib
import itertools
import json
import multiprocessing
import os
import re
import socket
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import papermill.exceptions
import yaml
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from tqdm import tqdm

from nbutils import KERNEL, NOTEBOOK, REPORTS, ROOT, params, runner
from nbutils.data import reading
from nbutils.results import write_atomically

SWEEP_KEYS = {"base", "parameters", "scenarios", "axes", "exclude", "seed"}
STATUS_FILE = "sweep-run.json"  # a run's status record, next to its metrics.json
MANIFEST = "sweep.json"  # the sweep's planned runs, in <reports_dir>/<sweep>/
COMPLETE_FILES = ["metrics.json", "results.csv", "examples.parquet", "unlearning.html"]
UNHASHED = {"run_name", "reports_dir"}  # where a run is written does not change what it computes
_interrupted = False  # set in a worker process once Ctrl-C reached it: the runs queued after it do not start


class SweepError(ValueError):
    """The sweep file, one of its combinations or the cluster is unusable; the message says what to fix."""


@dataclass(frozen=True)
class Job:
    """One run of a sweep: everything a worker needs, picklable."""

    slug: str
    varying: dict  # the axis values of this combination
    parameters: dict  # every parameter handed to the notebook (base files, fixed values, axis values)
    digest: str  # hash of the validated parameters
    folder: str  # the sweep's folder; the run writes to folder/slug
    notebook: str
    kernel: str
    cell_timeout: int
    threads: int  # OMP/MKL threads of the run's kernel


def read_spec(path):
    """The sweep file as a dict with every key present, after checking its shape."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such sweep file")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise SweepError(f"{path}: expected a mapping with keys {sorted(SWEEP_KEYS)}")
    problems = [f"unknown key {key!r}; a sweep file has {sorted(SWEEP_KEYS)}" for key in spec if key not in SWEEP_KEYS]
    spec = {"base": [], "parameters": {}, "scenarios": {}, "axes": {}, "exclude": [], "seed": None, **spec}
    if isinstance(spec["base"], str):
        spec["base"] = [spec["base"]]
    problems += [f"base: {base} does not exist (paths are relative to {ROOT})"
                 for base in spec["base"] if not (ROOT / base).is_file()]
    if not isinstance(spec["parameters"], dict):
        problems.append("parameters: expected a mapping of parameter names to values")
    axes, scenarios = spec["axes"], spec["scenarios"]
    if not isinstance(scenarios, dict) or not all(isinstance(v, dict) for v in scenarios.values()):
        problems.append("scenarios: expected a mapping of scenario names to mappings of parameters")
        scenarios = spec["scenarios"] = {}
    if not isinstance(axes, dict) or not (axes or scenarios):
        problems.append("axes: expected at least one axis, such as `train_seed: [0, 1, 2]`, or scenarios")
    else:
        problems += [f"axes: {name} needs a non-empty list of values, got {values!r}"
                     for name, values in axes.items() if not isinstance(values, list) or not values]
        problems += [f"{name} is both a fixed parameter and an axis; keep one"
                     for name in axes if name in (spec["parameters"] or {})]
    for i, entry in enumerate(spec["exclude"] or []):
        if not isinstance(entry, dict) or not entry:
            problems.append(f"exclude[{i}]: expected a mapping of axis names to values, got {entry!r}")
        elif unknown := [key for key in entry if key not in (axes or {}) and key != "scenario"]:
            problems.append(f"exclude[{i}]: {unknown} are not axes; exclude matches axis values only")
    problems += seed_problems(spec)
    if problems:
        raise SweepError(f"{path}:\n  - " + "\n  - ".join(problems))
    return spec


def seed_problems(spec):
    """What is wrong with the sweep's master ``seed``: not an integer, or a ``train_seed`` set elsewhere too."""
    seed = spec["seed"]
    if seed is None:
        return []
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        return [f"seed: expected a whole number 0 or more, got {seed!r}"]
    where = [name for name, given in [("parameters", spec["parameters"]), ("axes", spec["axes"]),
                                      *((f"scenario {n}", v) for n, v in spec["scenarios"].items())]
             if isinstance(given, dict) and "train_seed" in given]
    return [f"seed sets every run's train_seed, and {w} sets train_seed too; keep one" for w in where]


def with_seed(spec, seed):
    """``spec`` with its master seed replaced by ``seed`` (the command line's ``--seed``), checked."""
    spec = {**spec, "seed": seed}
    if problems := seed_problems(spec):
        raise SweepError("\n".join(problems))
    return spec


def combinations(spec):
    """The scenario and axis values of every combination, scenarios first, in the order of the axes, less those
    ``exclude`` matches."""
    axes = {**({"scenario": list(spec["scenarios"])} if spec["scenarios"] else {}), **spec["axes"]}
    names = list(axes)
    every = [dict(zip(names, values)) for values in itertools.product(*axes.values())]
    kept = [c for c in every if not any(all(c[k] == v for k, v in entry.items()) for entry in spec["exclude"])]
    if not kept:
        raise SweepError("every combination is excluded")
    return kept


def slug(varying):
    """A readable, stable folder name from the values that vary: ``device-cpu__methods-gaussian+fisher``."""
    return "__".join(f"{name}-{_slug_value(value)}" for name, value in varying.items())


def _slug_value(value):
    if isinstance(value, list):
        text = "+".join(_slug_value(v) for v in value) or "none"
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    else:
        text = str(value)
    safe = re.sub(r"[^A-Za-z0-9._+=-]+", "-", text)
    if safe != text or isinstance(value, dict):  # lossy: add a hash so distinct values keep distinct slugs
        safe += "-" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:6]
    return safe


def digest(validated):
    """A hash of a run's validated parameters, less where it is written, and of the size and modification
    time of the data files they read (an edited table or ids file makes the run outdated)."""
    kept = {k: v for k, v in validated.items() if k not in UNHASHED}
    kept["input files"] = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in reading.input_files(validated)]
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan(spec, folder, *, threads, notebook=NOTEBOOK, kernel=KERNEL, cell_timeout=1800):
    """One validated Job per combination; raises SweepError listing every bad combination before anything runs.

    ``threads`` becomes each run's ``threads`` parameter unless the sweep's ``parameters`` or ``axes``
    set it (base files do not: their value suits one run alone). A ``device: cuda`` combination is
    validated as if on CPU here; whether it can run is decided where it runs.
    """
    folder = Path(folder).resolve()
    base = params.load([ROOT / b for b in spec["base"]], spec["parameters"])
    jobs, problems = [], []
    for varying in combinations(spec):
        name = slug(varying)
        scenario = spec["scenarios"].get(varying.get("scenario"), {})
        given = {**base, **scenario, **{k: v for k, v in varying.items() if k != "scenario"}}
        if "threads" not in spec["parameters"] and "threads" not in spec["axes"]:
            given["threads"] = threads
        if spec["seed"] is not None:
            given["train_seed"] = spec["seed"]
        stand_in = _cpu_stand_in(given)
        try:
            validated = params.validate({**given, **stand_in, "run_name": name, "reports_dir": str(folder)}, notebook)
        except params.ParameterError as error:
            problems.append(f"{name}: {error}")
            continue
        validated.update({k: given[k] for k in stand_in})
        jobs.append(Job(name, varying, given, digest(validated), str(folder), str(notebook), kernel, cell_timeout,
                        validated.get("threads", threads)))
    duplicates = sorted(name for name, n in Counter(job.slug for job in jobs).items() if n > 1)
    if duplicates:
        problems.append(f"these slugs name more than one combination: {duplicates}; make the axis values distinct")
    if problems:
        raise SweepError("\n".join(problems))
    return jobs


def _cpu_stand_in(given):
    """``{"device": "cpu"}`` when the run asks for CUDA and this machine has none, so the rest is still checked."""
    return {"device": "cpu"} if given.get("device") == "cuda" and not _cuda_here() else {}


def _cuda_here():
    import torch  # only for sweeps that ask for cuda

    return torch.cuda.is_available()


def is_complete(job):
    """Whether the run already finished ``ok`` with the same parameters, its files all present."""
    out = Path(job.folder) / job.slug
    record = read_status(out)
    return (record.get("status") == "ok" and record.get("digest") == job.digest
            and all((out / name).is_file() for name in COMPLETE_FILES))


def read_status(run_folder):
    """A run's status record, or {} if it has none (never run, or running, or killed)."""
    path = Path(run_folder) / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def run_one(job):
    """Execute one run where this is called (a local process or a Dask worker); returns its status record.

    The status file is removed first and written whole at the end, so an interrupted run never looks
    complete. A run that cannot run here (CUDA asked for, none present) is ``skipped``; any failure,
    a dead kernel and a cell over the timeout included, is ``failed`` with its reason.
    """
    global _interrupted
    if _interrupted:
        return {"slug": job.slug, "varying": job.varying, "status": "interrupted", "reason": "not started",
                "seconds": 0}
    out = Path(job.folder) / job.slug
    out.mkdir(parents=True, exist_ok=True)
    (out / STATUS_FILE).unlink(missing_ok=True)  # the run's own outputs are cleared by runner.run
    os.environ.update(OMP_NUM_THREADS=str(job.threads), MKL_NUM_THREADS=str(job.threads))
    record = {"slug": job.slug, "varying": job.varying, "digest": job.digest, "host": socket.gethostname(),
              "started": _now(), "reason": ""}
    start = time.perf_counter()
    try:
        if job.parameters.get("device") == "cuda" and not _cuda_here():
            record.update(status="skipped", reason=f"device cuda: PyTorch sees no CUDA GPU on {record['host']}")
        else:
            runner.run((), job.parameters, job.slug, reports_dir=job.folder, kernel=job.kernel,
                       cell_timeout=job.cell_timeout, progress=False, notebook=Path(job.notebook))
            record.update(status="ok")
    except KeyboardInterrupt:
        _interrupted = True
        record.update(status="interrupted", seconds=round(time.perf_counter() - start, 1))
        write_status(out, record)
        raise
    except Exception as error:  # noqa: BLE001 - every failure of one run is recorded, and the others go on
        record.update(status="failed", reason=describe(error, job.cell_timeout))
    record.update(seconds=round(time.perf_counter() - start, 1), finished=_now())
    write_status(out, record)
    return record


def write_status(run_folder, record):
    """Write a run's status record whole, next to its metrics.json."""
    Path(run_folder).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(run_folder) / STATUS_FILE, json.dumps(record, indent=2))


def describe(error, cell_timeout):
    """One line (or a few) saying why a run failed."""
    if isinstance(error, papermill.exceptions.PapermillExecutionError):
        return f"cell {error.exec_count} raised {error.ename}: {error.evalue}"
    if isinstance(error, CellTimeoutError):
        return f"a cell ran over --cell-timeout ({cell_timeout} s)"
    if isinstance(error, DeadKernelError):
        return f"the kernel died ({error}); out of memory, or a crash in native code"
    return f"{type(error).__name__}: {error}"


def _now():
    return datetime.now(UTC).isoformat(timespec="seconds")


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def local_executor(workers):
    """``workers`` processes, and the torch threads each run gets so that together they fill the cores."""
    context = multiprocessing.get_context("spawn")  # no fork of a parent that may hold torch's thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool, max(1, usable_cores() // workers)


@contextmanager
def dask_executor(address, kernel=KERNEL, notebook=NOTEBOOK):
    """A Dask cluster's executor after checking every worker, and the threads per run that fill its cores."""
    from distributed import Client

    with Client(address) as client:
        nthreads = client.nthreads()
        if not nthreads:
            raise SweepError(f"the Dask cluster at {address} has no workers")
        answers = client.run(check_worker, kernel, str(notebook), on_error="return")
        problems = [f"worker {worker}: {answer!r} (is the project installed there?)" if isinstance(answer, Exception)
                    else f"worker {worker}: {answer}"
                    for worker, answer in answers.items() if not isinstance(answer, int)]
        if problems:
            raise SweepError("these Dask workers cannot run the notebook:\n  - " + "\n  - ".join(problems))
        threads = min(max(1, answers[worker] // slots) for worker, slots in nthreads.items())
        yield client.get_executor(pure=False), threads


def check_worker(kernel, notebook):
    """Run on each Dask worker: its usable cores, or a sentence saying what it lacks."""
    from jupyter_client.kernelspec import find_kernel_specs

    if kernel not in find_kernel_specs():
        return (f"no Jupyter kernel named {kernel!r}; install the project there (`make setup`, or "
                f"`python -m ipykernel install --sys-prefix --name {kernel}`)")
    if not Path(notebook).is_file():
        return f"no notebook at {notebook}; workers need the project at the same path (a shared file system)"
    return usable_cores()


def execute(jobs, executor, *, force=False, progress=True):
    """Run every job not already complete (all, with ``force``); returns their status records in job order.

    A tqdm bar counts runs; each run logs one line with its status and time. Ctrl-C cancels what has not
    started and re-raises.
    """
    records = {}
    todo = []
    for job in jobs:
        if not force and is_complete(job):
            records[job.slug] = {**read_status(Path(job.folder) / job.slug), "kept": True}
        else:
            todo.append(job)
    with tqdm(total=len(jobs), initial=len(records), unit="run", disable=not progress) as bar:
        if records:
            tqdm.write(f"kept     {len(records)} complete run(s) with unchanged parameters (--force reruns them)")
        futures = {executor.submit(run_one, job): job for job in todo}
        try:
            for future in as_completed(futures):
                try:
                    record = future.result()
                except Exception as error:  # noqa: BLE001 - the process or Dask worker running it died
                    job = futures[future]
                    record = {"slug": job.slug, "varying": job.varying, "digest": job.digest, "status": "failed",
                              "seconds": 0, "reason": f"its worker was lost: {type(error).__name__}: {error}"}
                    write_status(Path(job.folder) / job.slug, record)
                records[record["slug"]] = record
                tqdm.write(f"{record['status']:<8} {record['slug']}  {record['seconds']:.1f} s"
                           + (f"  {record['reason'].splitlines()[0]}" if record["reason"] else ""))
                bar.update()
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise
    return [records[job.slug] for job in jobs]


def write_manifest(jobs, folder, source, seed=None):
    """``sweep.json``: the sweep's runs, what varies and its master seed, so the index lists runs that never
    started too."""
    runs = [{"slug": job.slug, "varying": job.varying, "digest": job.digest} for job in jobs]
    manifest = {"source": str(source), "seed": seed, "runs": runs}
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(folder) / MANIFEST, json.dumps(manifest, indent=2))


def sweep_folder(path, name=None, reports_dir=REPORTS):
    """<reports_dir>/<name>, the name defaulting to the sweep file's stem; refuses a name that is not one folder."""
    name = name or Path(path).stem
    if problems := params.name_problems(name, "sweep name"):
        raise SweepError(problems[0])
    return Path(reports_dir).resolve() / name
