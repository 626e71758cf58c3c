"""The catalog: every entry is well formed and reaches the registry's checks, the notebook, the tables and the docs;
the result columns are each documented."""

import dataclasses
import re

import nbformat
import pytest
import yaml

from nbutils import NOTEBOOK, PARAMETERS, ROOT, catalog, leaderboard, params, tables
from nbutils.catalog import CATALOG, FAMILIES, LIMITED, LIMITS, REQUESTS, Sweep
from nbutils.columns import COLUMNS, INTERVAL_BOUNDS, PER_MODEL, PER_SETTING, WITH_INTERVAL
from nbutils.params import ParameterError

UNITS = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def in_words(n):
    """How the prose writes a count below a hundred: "twenty-one"."""
    return UNITS[n] if n < 20 else TENS[n // 10] + (f"-{UNITS[n % 10]}" if n % 10 else "")


def notebook_cells():
    return nbformat.read(NOTEBOOK, as_version=4).cells


@pytest.mark.parametrize("name", list(CATALOG))
def test_each_entry_reads_what_it_sweeps_and_every_name_is_a_notebook_parameter(name):
    entry, known = CATALOG[name], params.defaults()
    assert entry.name == name and entry.family in FAMILIES and set(entry.by_request) <= set(REQUESTS)
    for sweep in entry.sweeps:
        assert set(sweep.parameters) <= set(entry.reads)
    assert set(entry.limits) <= set(entry.reads) <= set(known) and set(entry.limits.values()) <= set(LIMITS)
    assert not entry.settings_of or entry.settings_of in entry.reads
    assert entry.description and entry.heading and entry.notes and "\n" not in entry.description
    if entry.repair_base:  # noise then repair's base gets one number
        assert all(isinstance(v, float) for v in entry.settings(known).values())


def test_the_lists_params_checks_come_from_the_catalog():
    assert catalog.REPAIRS == [n for n, e in CATALOG.items() if e.repairs] and "finetune" in catalog.REPAIRS
    assert catalog.REPAIR_BASES == [n for n, e in CATALOG.items() if e.repair_base]
    assert params.defaults()["repair_base"] in catalog.REPAIR_BASES
    assert params.defaults()["repair_with"] in catalog.REPAIRS


@pytest.mark.parametrize("name", list(LIMITED))
def test_each_limit_the_catalog_gives_a_parameter_is_checked(name):
    default, kind = params.defaults()[name], LIMITED[name]
    number = default[0] if isinstance(default, list) else default
    bad = 1.5 if kind == "share" else -1 if isinstance(number, int) else -0.5
    given = [*default, bad] if isinstance(default, list) else bad
    with pytest.raises(ParameterError, match=re.escape(f"{name}: {LIMITS[kind]}, got ")):
        params.validate({name: given})
    assert params.validate({name: default})[name] == default


def test_a_sweep_may_depend_on_the_kind_of_forget_request(monkeypatch):
    given = {"neggrad_alphas": [0.9], "neggrad_class_alphas": [0.5], "neggrad_epochs": [1, 3],
             "neggrad_lr_factors": [1.0]}
    entry = CATALOG["neggrad"]
    assert entry.settings({**given, "forget": "class:a"}) == {"alpha=0.5, epochs=1, lr×=1": (0.5, 1, 1.0),
                                                               "alpha=0.5, epochs=3, lr×=1": (0.5, 3, 1.0)}
    assert entry.settings({**given, "forget": "where:x > 1"}) == {"alpha=0.9, epochs=1, lr×=1": (0.9, 1, 1.0),
                                                                   "alpha=0.9, epochs=3, lr×=1": (0.9, 3, 1.0)}
    with pytest.raises(ParameterError, match="neggrad_epochs: give at least one setting"):
        params.validate({"neggrad_epochs": []})
    alone = Sweep("alpha", "neggrad_alphas")
    monkeypatch.setitem(CATALOG, "neggrad", dataclasses.replace(entry, sweep=alone, by_request={"class": alone}))
    assert params.validate({"neggrad_epochs": []})["neggrad_epochs"] == []  # no sweep of it lists it


def test_every_entry_reaches_the_notebook():
    cells = notebook_cells()
    assert params.defaults()["methods"] == list(CATALOG)
    sources = "\n".join(c.source for c in cells)
    assert "for number, name in enumerate(METHODS, 1):" in sources and "catalog.section(number, name)" in sources
    assert not re.search(r"show_sweep\(\"", sources)  # no method's section is written out
    smoke = yaml.safe_load((PARAMETERS / "smoke.yaml").read_text())
    for name, entry in CATALOG.items():
        assert catalog.anchor(number := list(CATALOG).index(name) + 1, name) in catalog.contents()
        assert catalog.section(number, name).startswith(f"### Method {number}: {entry.heading}\n\n")
        assert set(entry.sweep.parameters) <= set(smoke), f"smoke.yaml: shrink {name}'s sweep"
        assert yaml.safe_load((PARAMETERS / "methods" / f"{name}.yaml").read_text())["methods"] == [name]


def test_section_5s_prose_numbers_the_families_as_the_catalog_orders_them():
    intro = next(c.source for c in notebook_cells() if c.source.startswith("## 5. Unlearning methods"))
    numbers = {}
    for number, entry in enumerate(CATALOG.values(), 1):
        numbers.setdefault(entry.family, []).append(number)
    assert list(numbers) == list(FAMILIES)  # each family in one run
    seed, literature = numbers["seed"], numbers["literature"]
    rest = numbers["baseline"] + numbers["competition"]
    assert f"Methods {seed[0]}–{seed[-1]} are the seed's; {literature[0]}–{literature[-1]} come from" in intro
    assert f"Methods {rest[0]}–{rest[-1]} are the field's standard baselines" in intro


def test_every_entry_reaches_the_tables():
    for name, entry in CATALOG.items():
        assert tables.label(name) == entry.label
        assert leaderboard._label(name) == entry.label + (" *" if entry.adds_noise else "")
    for name, text in catalog.REFERENCES.items():
        assert tables.label(name) == text


def test_every_entry_reaches_the_docs():
    methods = (ROOT / "docs" / "methods.md").read_text()
    assert catalog.methods_table() in methods, (
        "docs/methods.md's table differs from the catalog's: paste in the output of "
        ".venv/bin/python -c 'from nbutils import catalog; print(catalog.methods_table())'")
    count = f"{in_words(len(CATALOG))} methods"
    for document in ["README.md", "docs/layout.md", "docs/methods.md"]:
        assert count in (ROOT / document).read_text(), f"{document}: say {count!r}"


def test_the_result_columns_are_each_in_one_kind_and_documented():
    results = (ROOT / "docs" / "results.md").read_text()
    assert set(PER_MODEL).isdisjoint(PER_SETTING) and set(WITH_INTERVAL) <= set(PER_SETTING)
    assert INTERVAL_BOUNDS[:2] == [f"{WITH_INTERVAL[0]}_lo", f"{WITH_INTERVAL[0]}_hi"]
    for name, column in COLUMNS.items():
        assert f"`{name}`" in results or name in results or column.label in results, f"docs/results.md: {name}"
