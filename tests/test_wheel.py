"""The wheel holds the whole package: built, installed into a new virtual environment without the source tree, it
imports ``nbutils.methods`` and runs ``python -m nbutils --help``. Alone: ``pytest -m wheel``.

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
    shutil.copytree(ROOT / "nbutils", source / "nbutils", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
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
    return wheel, python, tmp


def test_the_wheel_holds_every_subpackage_and_the_report_template(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ROOT.glob("nbutils/**/*.py"):
        assert module.relative_to(ROOT).as_posix() in names
    for template in ROOT.glob("nbutils/templates/**/*.*"):
        assert template.relative_to(ROOT).as_posix() in names


def test_the_installed_wheel_imports_its_methods_and_runs_its_command_line(installed):
    _, python, tmp = installed
    where = run(python, "-c", "import nbutils.methods, nbutils.runner as r; print(nbutils.methods.__file__); "
                "print((r.TEMPLATES / 'report' / 'index.html.j2').is_file())", cwd=tmp).split()
    assert Path(where[0]).is_relative_to(python.parent.parent) and where[1] == "True"  # the wheel's, not the tree's
    assert "usage: python -m nbutils" in run(python, "-m", "nbutils", "--help", cwd=tmp)
