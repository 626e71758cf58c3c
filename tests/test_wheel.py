"""The wheel holds the whole package, and the notebook and parameter files inside it: built, installed into a new
virtual environment without the source tree, it imports ``nbutils.methods``, finds its notebook, validates its
parameter files against it and runs ``python -m nbutils --help``. Alone: ``pytest -m wheel``.

The new environment sees the project environment's installed dependencies through a ``.pth`` line, but not its
editable install of ``nbutils`` (a line of a ``.pth`` adds a folder, whose own ``.pth`` files Python never runs).
"""

import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from nbutils import ROOT

pytestmark = pytest.mark.wheel


def run(*command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the wheel, the new environment's python), the wheel built from a copy of the sources and installed there."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy, so that the build leaves no build/ folder in the tree
    source.mkdir()
    for folder in ("nbutils", "parameters"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "notebooks").mkdir()
    for name in ("pyproject.toml", "README.md", "notebooks/unlearning.ipynb"):
        shutil.copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", tmp / "dist",
        source, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("nbutils-*.whl")
    env = tmp / "env"
    run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp)
    python = env / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp).strip())
    dependencies = dict.fromkeys([sysconfig.get_path("purelib"), *site.getsitepackages()])
    (purelib / "project-dependencies.pth").write_text("".join(f"{d}\n" for d in dependencies))
    run(sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", purelib, wheel, cwd=tmp)
    return wheel, python, tmp.resolve()


def test_the_wheel_holds_every_subpackage_the_report_template_the_notebook_and_the_parameter_files(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ROOT.glob("nbutils/**/*.py"):
        assert module.relative_to(ROOT).as_posix() in names
    for template in ROOT.glob("nbutils/templates/**/*.*"):
        assert template.relative_to(ROOT).as_posix() in names
    assert "nbutils/notebooks/unlearning.ipynb" in names
    for file in (f for f in ROOT.glob("parameters/**/*") if f.is_file()):
        assert f"nbutils/{file.relative_to(ROOT).as_posix()}" in names


def test_the_installed_wheel_validates_its_parameter_files_and_runs_its_command_line(installed):
    _, python, tmp = installed
    code = ("import nbutils, nbutils.methods, nbutils.params as p, nbutils.runner as r; "
            "P = p.validate(p.load([nbutils.PARAMETERS / 'default.yaml', nbutils.PARAMETERS / 'smoke.yaml'])); "
            "print(nbutils.methods.__file__, nbutils.NOTEBOOK, nbutils.REPORTS, P['n_samples'], "
            "(r.TEMPLATES / 'report' / 'index.html.j2').is_file())")
    methods, notebook, reports, n_samples, template = run(python, "-c", code, cwd=tmp).split()
    installed_here = python.parent.parent  # the wheel's files, not the tree's
    assert Path(methods).is_relative_to(installed_here) and Path(notebook).is_relative_to(installed_here)
    assert Path(notebook).is_file() and template == "True" and n_samples == "300"  # smoke.yaml over default.yaml
    assert Path(reports) == tmp / "reports"  # without the source tree the project root is the working directory
    assert "usage: python -m nbutils" in run(python, "-m", "nbutils", "--help", cwd=tmp)
