import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from nbutils import PARAMETERS
from nbutils.data import column_kinds, description, forget_requests, reading, splits, tensors

BASE = dict(dataset="synthetic", target="", id_column="", categorical_columns=[], numeric_columns=[], drop_columns=[],
            na_values=[], csv_separator="", csv_encoding="", csv_decimal="", normalize_labels=False,
            forget="random", forget_ratio=0.1, test_ratio=0.2, data_seed=42, train_seed=0, n_samples=2000, n_features=20,
            n_informative=15, n_redundant=3, n_classes=2, flip_y=0.1)


SYNTHETIC = dict(n_samples=2000, n_features=20, n_informative=15, n_redundant=3, n_classes=2, flip_y=0.1, seed=42)


def params(*files, **given):
    """BASE overlaid with parameter files (relative to parameters/) and then ``given``."""
    P = dict(BASE)
    for name in files:
        P.update(yaml.safe_load((PARAMETERS / name).read_text()))
    return {**P, **given}


@pytest.fixture
def patients(tmp_path):
    """A small table with ids, a string target, a categorical and a numeric column with gaps; returns its path."""
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)],
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.integers(20, 80, n)),
        "colour": rng.choice(["red", "green", None], n),
        "label": np.array(["cat", "dog", "eel"])[np.arange(n) % 3],
    })
    path = tmp_path / "patients.csv"
    frame.to_csv(path, index=False)
    return path


def csv_params(path, **given):
    return params(**{"dataset": f"csv:{path}", "target": "label", "id_column": "id", **given})


def problems_of(P):
    return "\n".join(splits.problems(P))


# The seed's scenario

def test_seed_split_sizes(seed_splits):
    assert seed_splits.sizes == {"retain": 1440, "forget": 160, "test": 400}


def test_splits_are_stratified_and_scaled_on_the_retain_rows(seed_splits):
    overall = (seed_splits.y_train.sum() + seed_splits.y_test.sum()).item() / 2000  # share of class 1
    for y in (seed_splits.y_retain, seed_splits.y_forget, seed_splits.y_test):
        assert abs(y.sum().item() - overall * len(y)) <= 1  # class counts proportional to within one row
    torch.testing.assert_close(seed_splits.X_retain.mean(0), torch.zeros(20), atol=1e-5, rtol=0)
    assert seed_splits.X_forget.mean(0).abs().max() > 1e-3  # not refit on the forget rows
    assert seed_splits.X_train.shape == (1600, 20)


def test_load_gives_the_seeds_splits_for_the_default_parameters(seed_splits):
    loaded = tensors.load(params())  # the seed's test rows; the forget set is drawn per replicate (tensors.load)
    assert loaded.splits.sizes == seed_splits.sizes and torch.equal(loaded.splits.y_test, seed_splits.y_test)
    assert sorted(loaded.ids["test"]) == sorted(splits.split_rows(
        reading.from_arrays(*reading.make_synthetic(**SYNTHETIC)), forget_requests.RANDOM, test_ratio=0.2,
        forget_ratio=0.1, seed=42).test.tolist())
    assert loaded.class_names == ["0", "1"] and loaded.n_features == 20


def test_encoding_in_chunks_equals_encoding_at_once(monkeypatch):
    P = params("datasets/penguins.yaml")
    whole = tensors.load(P).splits
    monkeypatch.setattr(tensors, "CHUNK_ROWS", 7)
    torch.testing.assert_close(tensors.load(P).splits.X_retain, whole.X_retain, rtol=0, atol=0)


# Every shipped dataset and scenario

SHIPPED = [["datasets/synthetic.yaml"], ["datasets/breast_cancer.yaml"], ["datasets/penguins.yaml"],
           ["datasets/example.yaml"], ["datasets/penguins.yaml", "forget/penguins_class.yaml"],
           ["datasets/penguins.yaml", "forget/penguins_where.yaml"], ["datasets/example.yaml", "forget/random.yaml"]]


@pytest.mark.parametrize("files", SHIPPED, ids=lambda files: "+".join(f.split("/")[1][:-5] for f in files))
def test_shipped_parameter_files_load_with_disjoint_splits(files):
    P = params(*files)
    assert splits.problems(P) == []
    loaded = tensors.load(P)
    ids = {name: set(v.tolist()) for name, v in loaded.ids.items()}
    assert not ids["forget"] & ids["test"] and not ids["forget"] & ids["retain"] and not ids["retain"] & ids["test"]
    for name, n in loaded.splits.sizes.items():
        X = getattr(loaded.splits, f"X_{name}")
        assert X.dtype == torch.float32 and X.shape == (n, loaded.n_features) and not X.isnan().any()
        assert len(loaded.ids[name]) == n
    assert loaded.description.classes.loc[:, "retain":"test"].to_numpy().sum() == sum(loaded.splits.sizes.values())


def test_string_labels_keep_their_names():
    loaded = tensors.load(params("datasets/penguins.yaml"))
    assert loaded.class_names == ["Adelie", "Chinstrap", "Gentoo"] and loaded.n_classes == 3
    assert "island_Dream" in loaded.feature_names and "sex_female" in loaded.feature_names


def test_relative_paths_are_read_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as papermill runs the notebook from notebooks/
    loaded = tensors.load(params("datasets/example.yaml"))
    assert sorted(loaded.ids["forget"]) == (PARAMETERS / "datasets/example/forget_ids.txt").read_text().split()


# Preprocessing

def test_imputation_and_encoding_are_fit_on_the_retain_rows_only(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan] * 30, "c": ["a", "b", None, "a"] * 30,
                          "y": ["p", "q", "p", "q"] * 30})
    frame.loc[:9, "c"] = "only_forgotten"  # a category seen only in the forget rows
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    P = params(dataset=f"csv:{path}", target="y", forget="where:c == 'only_forgotten'")
    loaded = tensors.load(P)
    assert "c_only_forgotten" not in loaded.feature_names  # unknown to the encoder
    X_forget = pd.DataFrame(loaded.splits.X_forget.numpy(), columns=loaded.feature_names)
    assert (X_forget[["c_a", "c_b"]] == 0).all().all()  # encoded as all zeros
    X_retain = pd.DataFrame(loaded.splits.X_retain.numpy(), columns=loaded.feature_names)
    assert abs(X_retain["x"].mean()) < 1e-6  # scaled on the retain rows, missing values imputed before
    assert X_retain[["c_a", "c_b"]].sum(axis=1).eq(1).all()  # a missing category became the most frequent one


def test_declared_kinds_override_detection(patients):
    loaded = tensors.load(csv_params(patients, categorical_columns=["age"], drop_columns=["colour"]))
    assert not any(f.startswith("colour") for f in loaded.feature_names)
    assert sum(f.startswith("age_") for f in loaded.feature_names) > 10
    assert loaded.description.columns.loc["colour", "kind"] == "dropped"


# Forget scenarios

def test_class_forgetting_forgets_every_training_row_of_the_class_and_tests_on_it():
    loaded = tensors.load(params("datasets/penguins.yaml", "forget/penguins_class.yaml"))
    chinstrap = loaded.class_names.index("Chinstrap")
    s = loaded.splits
    assert (s.y_forget == chinstrap).all() and not (s.y_retain == chinstrap).any()
    assert len(s.y_forget) + (s.y_test == chinstrap).sum().item() == 68  # every Chinstrap row: forget or test
    assert loaded.request.class_index == chinstrap and "about 0 %" in loaded.scenario
    test_share = (s.y_test == chinstrap).float().mean().item()
    assert abs(test_share - 68 / 344) < 0.02  # the test set is stratified


def test_where_forgets_exactly_the_matching_rows():
    table = reading.read(params("datasets/penguins.yaml"))
    loaded = tensors.load(params("datasets/penguins.yaml", forget="where:island == 'Dream' and body_mass_g > 3800"))
    expected = np.flatnonzero((table.frame["island"] == "Dream") & (table.frame["body_mass_g"] > 3800))
    assert sorted(loaded.ids["forget"]) == expected.tolist()


@pytest.mark.parametrize("listing", ["text", "csv"])
def test_ids_forget_the_listed_rows(patients, tmp_path, listing):
    wanted = ["r3", "r17", "r40", "r41", "r42", "r60", "r61", "r90", "r91", "r100", "r119"]
    path = tmp_path / ("ids.txt" if listing == "text" else "ids.csv")
    path.write_text("\n".join(wanted) + "\n" if listing == "text" else "id,reason\n" + "".join(f"{i},gdpr\n" for i in wanted))
    loaded = tensors.load(csv_params(patients, forget=f"ids:{path}"))
    assert sorted(loaded.ids["forget"]) == sorted(wanted)
    assert not set(loaded.ids["test"]) & set(wanted)


def test_ids_are_row_positions_without_an_id_column(patients, tmp_path):
    path = tmp_path / "rows.txt"
    path.write_text("\n".join(str(i) for i in range(0, 120, 10)))
    loaded = tensors.load(csv_params(patients, id_column="", drop_columns=["id"], forget=f"ids:{path}"))
    assert sorted(loaded.ids["forget"]) == list(range(0, 120, 10))


def test_description_counts_rows_columns_missing_values_and_classes(patients):
    loaded = tensors.load(csv_params(patients))
    d = loaded.description
    assert d.overview["rows"] == 120 and d.overview["numeric features"] == 1 and d.overview["categorical features"] == 1
    assert d.columns.loc["id", "kind"] == "id" and d.columns.loc["age", "missing"] > 0
    assert d.classes["table"].tolist() == [40, 40, 40]
    assert d.splits["rows"].to_dict() == loaded.splits.sizes


def test_rows_without_a_label_are_left_out(tmp_path):
    frame = pd.DataFrame({"x": range(100), "y": ["a", "b", None, "c"] * 25})
    frame.to_csv(tmp_path / "t.csv", index=False)
    loaded = tensors.load(params(dataset=f"csv:{tmp_path / 't.csv'}", target="y"))
    assert sum(loaded.splits.sizes.values()) == 75 and loaded.description.overview["rows left out (no target value)"] == 25


# Bad input: refused before any training, each with its fix

def test_validation_imports_no_pytorch():
    modules = ", ".join(f"nbutils.data.{m}" for m in ["reading", "column_kinds", "forget_requests", "splits",
                                                       "description"])
    code = f"import sys, nbutils.params, {modules}; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("content, kind, fragments", [
    (None, "csv", ["no file", "project root"]),
    (b"", "csv", ["is empty"]),
    (b"\x00\x81binary\x00\x9c", "csv", ["holds zero bytes", "UTF-16 text without a byte-order mark", "csv_encoding"]),
    (b"a,b\n\x81\x8d\x9d,2\n", "csv", ["neither text in UTF-8, UTF-16 or Windows-1252 nor Parquet", "csv_encoding"]),
    (b"a,b\n", "csv", ["no data rows"]),
    (b"a,b\n1,2\n", "parquet", ["not a Parquet file", "csv:"]),
    (b"PAR1 not really", "csv", ["is a Parquet file", "parquet:"]),
    (b"PAR1 not really", "parquet", ["cannot read", "as PARQUET"]),
])
def test_bad_files_are_refused(tmp_path, content, kind, fragments):
    path = tmp_path / "table.dat"
    if content is not None:
        path.write_bytes(content)
    found = problems_of(params(dataset=f"{kind}:{path}", target="a"))
    for fragment in fragments:
        assert fragment in found


def test_a_directory_and_an_unknown_dataset_are_refused(tmp_path):
    assert "is a directory" in problems_of(params(dataset=f"csv:{tmp_path}", target="a"))
    assert "did you mean 'penguins'" in problems_of(params(dataset="pengiuns"))


def test_an_absent_target_lists_the_columns(patients):
    found = problems_of(csv_params(patients, target="lable"))
    assert "no column 'lable' (did you mean 'label'?)" in found and "['id', 'age', 'colour', 'label']" in found
    assert "name the label column" in problems_of(csv_params(patients, target=""))


def test_a_target_with_one_class_is_refused(tmp_path):
    pd.DataFrame({"x": range(50), "y": ["same"] * 50}).to_csv(tmp_path / "t.csv", index=False)
    assert "has 1 class" in problems_of(params(dataset=f"csv:{tmp_path / 't.csv'}", target="y"))


@pytest.mark.parametrize("condition, fragment", [
    ("islnd == 'Dream'", "names 'islnd', which is not a column (did you mean 'island'?)"),
    ("`bill length` > 3", "names 'bill length', which is not a column"),
    ("island == 'Atlantis'", "matches no rows"),
    ("body_mass_g > 0 or body_mass_g != body_mass_g", "matches all 344 rows"),
    ("island ==", "not a valid expression"),
    ("body_mass_g + 1", "not true or false per row"),
])
def test_bad_conditions_are_refused(condition, fragment):
    assert fragment in problems_of(params("datasets/penguins.yaml", forget=f"where:{condition}"))


def test_an_absent_class_lists_the_labels():
    found = problems_of(params("datasets/penguins.yaml", forget="class:Emperor"))
    assert "no class 'Emperor'" in found and "['Adelie', 'Chinstrap', 'Gentoo']" in found


def test_class_forgetting_with_two_classes_is_refused():
    assert "three or more classes" in problems_of(params("datasets/breast_cancer.yaml", forget="class:benign"))


def test_ids_not_found_are_counted_with_examples(patients, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("r1\nr2\nx9\nx10\n" + "".join(f"r{i}\n" for i in range(20, 30)))
    found = problems_of(csv_params(patients, forget=f"ids:{path}"))
    assert "2 of the 14 ids in ids.txt are not in column 'id'" in found and "'x9', 'x10'" in found


def test_duplicate_ids_are_refused(patients, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"r{i}\n" for i in range(20)) + "r5\n")
    assert "lists 1 ids more than once, e.g. 'r5'" in problems_of(csv_params(patients, forget=f"ids:{path}"))
    frame = pd.read_csv(patients)
    frame.loc[1, "id"] = "r0"
    frame.to_csv(patients, index=False)
    assert "ids occur more than once in 'id', e.g. 'r0'" in problems_of(csv_params(patients))


def test_an_empty_or_missing_ids_file_is_refused(patients, tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    assert "lists no ids" in problems_of(csv_params(patients, forget=f"ids:{tmp_path / 'empty.txt'}"))
    assert "no ids file" in problems_of(csv_params(patients, forget="ids:nowhere.txt"))


def test_a_forget_set_too_small_to_evaluate_is_refused(patients, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("r1\nr2\nr3\n")
    assert "the forget set would have only 3 of the 10 rows" in problems_of(csv_params(patients, forget=f"ids:{path}"))
    assert "the forget set would have only 5 of the 10 rows" in problems_of(params(n_samples=60, forget_ratio=0.1))
    everyone = tmp_path / "everyone.txt"
    everyone.write_text("".join(f"r{i}\n" for i in range(115)))
    found = problems_of(csv_params(patients, forget=f"ids:{everyone}"))
    assert "the retain set would have only 4 of the 10 rows" in found and "the test set would have only 1" in found


def test_text_in_a_numeric_column_is_named_with_an_example(tmp_path):
    frame = pd.DataFrame({"size": ["1.5", "2", "big", "3"] * 10, "y": ["a", "b"] * 20})
    frame.to_csv(tmp_path / "t.csv", index=False)
    found = problems_of(params(dataset=f"csv:{tmp_path / 't.csv'}", target="y", numeric_columns=["size"]))
    assert "column 'size' holds text, e.g. 'big'" in found


def test_infinite_numbers_are_refused_before_training(tmp_path):
    frame = pd.DataFrame({"size": [1.5, float("inf"), 2.0, 3.0] * 10, "y": ["a", "b"] * 20})
    frame.to_csv(tmp_path / "t.csv", index=False)
    found = problems_of(params(dataset=f"csv:{tmp_path / 't.csv'}", target="y"))
    assert "column 'size' holds 10 infinite values (row 1, counted from 0)" in found


def test_unknown_override_columns_and_too_many_categories_are_refused(patients, monkeypatch):
    assert "drop_columns: no column 'colur' (did you mean 'colour'?)" in problems_of(
        csv_params(patients, drop_columns=["colur"]))
    monkeypatch.setattr(column_kinds, "MAX_CATEGORIES", 100)
    assert problems_of(csv_params(patients)) == ""  # the id column is no feature
    assert "column 'id' has 120 distinct values" in problems_of(csv_params(patients, id_column=""))


def test_unknown_forget_kind_is_refused():
    assert "use random, class:<label>" in problems_of(params(forget="rows:1,2"))


# Messy files (issue 18): tests/messy/ holds each as a new user's file comes (BOM, CRLF, quotes, padding);
# make_messy.py writes them. Every case is settled by splits.problems, before any training.

MESSY = Path(__file__).parent / "messy"


def messy(name, **given):
    """Parameters reading tests/messy/<name>; patients.csv's target and id column unless ``given`` says otherwise."""
    kind = "parquet" if name.endswith(".parquet") else "csv"
    defaults = dict(target="outcome", id_column="patient_id") if name == "patients.csv" else dict(target="outcome")
    return params(**{"dataset": f"{kind}:{MESSY / name}", **defaults, **given})


def forgotten_ids():
    """The 30 ids both messy id lists hold, read without pandas: the header list's first field per line."""
    lines = (MESSY / "ids_header.csv").read_text(encoding="utf-8-sig").split()[1:]
    return sorted(line.split(",")[0] for line in lines)


@pytest.mark.parametrize("listing, read", [("ids_no_header.csv", "30 ids read from 30 lines of ids_no_header.csv, "
                                            "no header line"),
                                           ("ids_header.csv", "after a header line 'patient_id'")])
def test_every_line_of_an_id_list_is_an_id_unless_it_names_the_id_column(listing, read):  # cases 1 and 9
    loaded = tensors.load(messy("patients.csv", forget=f"ids:{MESSY / listing}"))
    assert sorted(loaded.ids["forget"]) == forgotten_ids() and len(forgotten_ids()) == 30
    assert all(i.startswith("00") for i in forgotten_ids())  # zero-padded ids kept as text
    assert "Forget the 30 rows" in loaded.scenario and read in loaded.scenario


def test_an_id_list_whose_lines_do_not_each_hold_one_id_is_refused(tmp_path):  # case 1
    path = tmp_path / "ids.csv"
    path.write_text("patient_id,reason\r\n001003,gdpr\r\n,gdpr\r\n001004,gdpr\r\n")
    assert "read 2 ids from the 3 non-blank lines of ids.csv after its header" in problems_of(
        messy("patients.csv", forget=f"ids:{path}"))
    path.write_text("id\n" + "".join(f"{i}\n" for i in forgotten_ids()))
    found = problems_of(messy("patients.csv", forget=f"ids:{path}"))
    assert "1 of the 31 ids" in found and "The first line, 'id', was read as an id" in found


def test_zero_padded_ids_are_compared_as_written(tmp_path):  # case 9
    path = tmp_path / "ids.txt"
    path.write_text("1003\n" + "".join(f"{i}\n" for i in forgotten_ids()))
    assert "not in column 'patient_id' (compared as text, as written), e.g. '1003'" in problems_of(
        messy("patients.csv", forget=f"ids:{path}"))


@pytest.mark.parametrize("name", ["duplicate_columns.csv", "duplicate_columns.parquet"])
def test_repeated_column_names_are_refused_by_name(name):  # cases 2 and 12
    found = problems_of(messy(name))
    assert found.startswith(f"dataset: {name} has more than one column named 'outcome'") and "Arrow" not in found


def test_only_empty_cells_are_missing_unless_na_values_names_more():  # case 3
    table = reading.read(messy("patients.csv"))
    assert table.class_names == ["NA", "high", "low"] and table.n_unlabelled == 0
    assert (table.frame["smoking"] == "None").sum() > 50 and table.frame["smoking"].isna().sum() > 0
    overview = tensors.load(messy("patients.csv", forget="class:NA")).description.overview
    assert "empty cells only" in overview["missing values"]
    assert "Forget the 58 rows where" in tensors.load(messy("patients.csv", forget='where:smoking == "None"')).scenario
    table = reading.read(messy("patients.csv", na_values=["None", "NA"]))
    assert table.class_names == ["high", "low"] and table.n_unlabelled > 0 and "None" not in set(table.frame["smoking"])
    assert table.reading["missing values"] == ("empty cells and 'None', 'NA' (na_values: 85 cells, in 'smoking' 58, "
                                               "'outcome' 27)")


def test_label_spellings_that_differ_in_case_or_spaces_are_warned_about_or_merged():  # case 4
    spelt = pd.read_csv(MESSY / "labels.csv", encoding="utf-8-sig", keep_default_na=False)["answer"]
    table = reading.read(messy("labels.csv", target="answer"))
    assert {"yes", "Yes", "YES", "yes "} <= set(table.class_names)
    assert "differ only in case or surrounding spaces are separate classes" in table.notes[0]
    assert "normalize_labels: true" in table.notes[0]
    loaded = tensors.load(messy("labels.csv", target="answer", normalize_labels=True, forget="class:yes"))
    assert loaded.class_names == ["maybe", "no", "yes"] and "normalize_labels merged" in loaded.description.notes
    yes = spelt.str.strip().str.lower().eq("yes").sum()
    assert loaded.splits.sizes["forget"] + (loaded.splits.y_test == 2).sum().item() == yes


def test_mostly_numeric_text_columns_are_named_with_their_stray_values():  # case 5
    found = problems_of(messy("stray_numbers.csv"))
    assert "column 'income' has 118 distinct values in 120 rows" in found and "it is mostly numbers" in found
    assert "holds text, e.g. '?', 'unknown' (4 such values)" in problems_of(
        messy("stray_numbers.csv", numeric_columns=["income"]))
    table = reading.read(messy("stray_numbers.csv", drop_columns=["income"]))
    assert table.categorical == ["visits"] and "column 'visits' is mostly numbers, but 7 values are not" in table.notes[0]
    assert reading.read(messy("stray_numbers.csv", na_values=["?", "unknown"])).numeric == ["income", "visits", "age"]


def test_categories_are_capped_relative_to_the_rows_and_dates_left_out():  # case 6
    found = problems_of(messy("identifiers.csv"))
    assert "column 'email' has 120 distinct values in 120 rows, too many to one-hot encode (at most 60" in found
    table = reading.read(messy("identifiers.csv", drop_columns=["email"]))
    assert table.dropped == {"email": "drop_columns", "visit_date": "dates", "updated": "dates"}
    assert table.numeric == ["age"] and "left out of the features: 'visit_date', 'updated' (dates" in table.notes[0]
    for values in (["1st", "2nd"], ["T1", "T2"], ["10-12", "1/2"], ["may", "june"], ["3", "4"]):
        assert not column_kinds._looks_like_dates(pd.Series(values))


def test_empty_columns_are_dropped_before_encoding():  # case 7
    loaded = tensors.load(messy("empty_columns.csv"))
    assert loaded.feature_names == ["age"]
    assert loaded.description.columns.loc[["notes", "Unnamed: 3"], "kind"].tolist() == ["dropped (empty)"] * 2
    assert "'notes', 'Unnamed: 3' (no value in any row)" in loaded.description.notes


def test_the_separator_is_detected_or_named():  # case 8
    table = reading.read(messy("semicolons.csv"))
    assert table.numeric == ["age", "monthly income"]
    assert table.reading["read as"] == "CSV (UTF-8 with a byte-order mark), fields separated by ';' (detected)"
    assert "the file looks ';'-separated; set csv_separator: ';'" in problems_of(messy("semicolons.csv", csv_separator=","))


@pytest.mark.parametrize("condition, fragment", [
    ('class == "A"', "'class' is a Python keyword: quote it in backticks, as in where:`class` == \"A\""),
    ("monthly income > 3000", "'monthly income' is not a Python name: quote it in backticks, as in "
                              "where:`monthly income` > 3000"),
])
def test_conditions_on_keyword_or_spaced_column_names_say_how_to_quote_them(condition, fragment):  # case 10
    assert fragment in problems_of(messy("patients.csv", forget=f"where:{condition}"))


def test_a_space_after_the_colon_is_accepted():  # case 11 (the YAML mapping is test_params')
    assert problems_of(messy("patients.csv", forget="where: age > 50")) == ""


def test_the_scenario_sentence_keeps_backticked_names_in_html():  # case 13
    from nbconvert.filters.markdown import markdown2html

    loaded = tensors.load(messy("patients.csv", forget='where:`monthly income` > 3000 and `class` == "A"'))
    html = markdown2html(loaded.scenario)
    assert "<code>`monthly income` &gt; 3000 and `class` == &quot;A&quot;</code>" in html


@pytest.mark.parametrize("given, fragment", [
    (["-p", "dataset", f"csv:{MESSY / 'duplicate_columns.csv'}", "-p", "target", "outcome"],
     "more than one column named 'outcome'"),
    (["-p", "dataset", f"csv:{MESSY / 'patients.csv'}", "-p", "target", "outcome", "-p", "forget", "where: class == 1"],
     "YAML read {'where': 'class == 1'} as a mapping"),
    (["-p", "dataset", f"csv:{MESSY / 'numbered.csv'}", "-p", "target", "outcome", "-p", "forget",
      f"ids:{MESSY / 'ids_no_header.csv'}"], "set id_column: id"),
    (["-p", "dataset", f"csv:{MESSY / 'spaced_ids.csv'}", "-p", "target", "outcome", "-p", "id_column", "patient_id",
      "-p", "forget", f"ids:{MESSY / 'ids_no_header.csv'}"], "(surrounding spaces trimmed"),
    (["-p", "dataset", f"csv:{MESSY / 'three_rows.csv'}", "-p", "target", "outcome"], "too few to split"),
    (["-p", "dataset", f"csv:{MESSY / 'cp1252.csv'}", "-p", "target", "outcome", "-p", "csv_encoding", "utf-8"],
     "does not decode as utf-8"),
    (["-p", "dataset", f"csv:{MESSY / 'visits.csv'}", "-p", "target", "outcome", "-p", "forget",
      "where:visit < '15-02-2023'"], "write it in that format or as YYYY-MM-DD"),
], ids=["repeated", "mapping", "id-like", "trimmed-ids", "three-rows", "encoding", "date-literal"])
def test_the_command_line_refuses_messy_input_before_running(tmp_path, given, fragment):
    done = subprocess.run([sys.executable, "-m", "nbutils", "run", "-f", str(PARAMETERS / "smoke.yaml"), *given,
                           "-p", "reports_dir", str(tmp_path), "--name", "messy"], capture_output=True, text=True)
    assert done.returncode == 2 and fragment in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


# Every forget kind names exactly the rows it asks for (issue 18)

TABLES = {"synthetic": dict(n_classes=3, n_informative=4), "breast_cancer": {}, "penguins": {},
          "example": dict(params("datasets/example.yaml"), forget="random")}
CONDITIONS = {"synthetic": "x0 > 0.5", "breast_cancer": "`mean radius` > 15", "penguins": "island == 'Torgersen'",
              "example": 'age > 60 and smoker == "yes"'}
CLASSES = {"synthetic": "2", "breast_cancer": "benign", "penguins": "Chinstrap", "example": "medium"}


def named_rows(table, kind, P, tmp_path):
    """(forget parameter, the table positions it names), worked out without the forget_requests code."""
    frame = table.frame
    if kind == "class":
        return f"class:{CLASSES[P['name']]}", np.flatnonzero(frame[table.target].astype(str) == CLASSES[P["name"]])
    if kind == "where":
        return f"where:{CONDITIONS[P['name']]}", np.flatnonzero(frame.eval(CONDITIONS[P["name"]], engine="python"))
    positions = np.random.default_rng(1).choice(len(frame), 25, replace=False)
    ids = table.ids[positions] if table.id_column else positions
    path = tmp_path / "forget.csv"  # a header-less CSV with a BOM and CRLF
    path.write_text("\ufeff" + "".join(f"{i}\r\n" for i in ids), encoding="utf-8", newline="")
    return f"ids:{path}", np.sort(positions)


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("kind", ["random", "class", "where", "ids"])
def test_the_forget_split_is_exactly_the_rows_the_request_names(name, kind, tmp_path):
    base = params(**{"dataset": name, **TABLES[name]}) if name != "example" else params(**TABLES[name])
    table = reading.read(base)
    forget, named = ("random", None) if kind == "random" else named_rows(table, kind, {**base, "name": name}, tmp_path)
    P = {**base, "forget": forget}
    if kind == "class" and len(table.class_names) < 3:
        assert "three or more classes" in problems_of(P)
        return
    assert splits.problems(P) == []
    request = forget_requests.forget_request(table, P)
    rows = splits.split_rows(table, request, test_ratio=P["test_ratio"], forget_ratio=P["forget_ratio"],
                               seed=P["data_seed"])
    forgotten = set(rows.forget.tolist())
    if kind == "class":  # the class's test rows are never trained on either
        assert forgotten | set(rows.test[np.isin(rows.test, named)].tolist()) == set(named.tolist())
        assert forgotten <= set(named.tolist()) and not set(rows.retain.tolist()) & set(named.tolist())
    elif kind != "random":
        assert forgotten == set(named.tolist())
    assert not forgotten & set(rows.test.tolist()) and not forgotten & set(rows.retain.tolist())
    assert len(forgotten) + len(rows.retain) + len(rows.test) == len(table.labels)
    assert f" {len(forgotten)} " in description.scenario(table, request, rows)


def test_rows_longer_than_the_header_are_refused_and_trailing_separators_ignored(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("age,outcome\r\n" + "".join(f"{a},{'ab'[a % 2]},\r\n" for a in range(40)))
    table = reading.read(params(dataset=f"csv:{path}", target="outcome"))  # pandas' default: age as the index
    assert table.frame["age"].tolist() == list(range(40)) and table.class_names == ["a", "b"]
    path.write_text("age,outcome\r\n" + "".join(f"{a},{'ab'[a % 2]},x\r\n" for a in range(40)))
    assert "hold more fields than its header names (2)" in problems_of(params(dataset=f"csv:{path}", target="outcome"))


# Real exports (issue 25): tests/messy/make_messy.py writes each file as Excel, a database or a script would.

@pytest.mark.parametrize("name, read_as", [
    ("utf16.csv", "CSV (UTF-16, byte-order mark), fields separated by '\\t' (detected)"),
    ("cp1252.csv", "CSV (Windows-1252, detected: not UTF-8), fields separated by ';' (detected)"),
])
def test_the_encoding_is_detected_and_said(name, read_as):
    table = reading.read(messy(name))
    assert table.reading["read as"] == read_as and set(table.frame["city"]) == {"Köln", "Zürich", "Besançon"}
    assert table.numeric == ["age"] and table.categorical == ["city"]
    assert ("is not UTF-8" in " ".join(table.notes)) == (name == "cp1252.csv")


def test_a_named_encoding_that_does_not_fit_says_so():
    found = problems_of(messy("cp1252.csv", csv_encoding="utf-8"))
    assert "does not decode as utf-8 (csv_encoding)" in found and "or to '' to detect it" in found
    assert reading.read(messy("cp1252.csv", csv_encoding="latin-1")).frame["city"].str.contains("Köln").any()


def test_a_compressed_csv_reads_as_the_plain_one():
    packed = reading.read(messy("patients.csv.gz", target="outcome", id_column="patient_id"))
    plain = reading.read(messy("patients.csv"))
    pd.testing.assert_frame_equal(packed.frame, plain.frame)
    assert "gzip-compressed" in packed.reading["read as"]


def test_thousands_separators_and_percent_signs_are_read_as_numbers():
    written = pd.read_csv(MESSY / "formatted.csv", encoding="utf-8-sig", dtype=str)
    table = reading.read(messy("formatted.csv"))
    assert table.numeric == ["income", "share", "age"]
    assert table.frame["income"].tolist() == [float(v.replace(",", "")) for v in written["income"]]
    assert table.frame["share"].tolist() == [int(v[:-1]) for v in written["share"]]
    assert "'income' ('" in table.notes[0] and "categorical_columns" in table.notes[0]
    assert "column 'share' has 68 distinct values" in problems_of(messy("formatted.csv", categorical_columns=["share"]))


def test_decimal_commas_are_detected_and_said_or_named():
    written = pd.read_csv(MESSY / "decimal_commas.csv", sep=";", encoding="utf-8-sig", dtype=str)
    table = reading.read(messy("decimal_commas.csv"))
    assert table.numeric == ["income", "weight"] and table.reading["decimal mark"].startswith("',' (detected: ")
    assert table.frame["weight"].tolist() == [float(v.replace(",", ".")) for v in written["weight"]]
    assert table.frame["income"].tolist() == [float(v.replace(".", "").replace(",", ".")) for v in written["income"]]
    stated = reading.read(messy("decimal_commas.csv", csv_decimal=","))
    pd.testing.assert_frame_equal(stated.frame, table.frame)
    assert stated.reading["decimal mark"] == "',' (csv_decimal)"
    assert "column 'income' has 120 distinct values" in problems_of(messy("decimal_commas.csv", csv_decimal="."))


@pytest.mark.parametrize("values, fragment", [
    (['"1,234"', '"2,345"'] * 60, "set csv_decimal to the decimal mark"),
    (['"1,5"', '"2,345.5"'] * 60, "use both decimal marks"),
])
def test_numbers_that_read_two_ways_are_refused_with_csv_decimal(tmp_path, values, fragment):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{v},{'ab'[i % 2]}\n" for i, v in enumerate(values)))
    assert fragment in problems_of(params(dataset=f"csv:{path}", target="y"))
    assert problems_of(params(dataset=f"csv:{path}", target="y", csv_decimal=".", categorical_columns=["x"])) == ""


def test_dates_written_as_text_are_compared_as_dates_in_where():
    visits = pd.to_datetime(pd.read_csv(MESSY / "visits.csv", encoding="utf-8-sig")["visit"], format="%d/%m/%Y")
    loaded = tensors.load(messy("visits.csv", forget="where:visit < '15/02/2023'"))
    assert sorted(loaded.ids["forget"]) == np.flatnonzero(visits < "2023-02-15").tolist()
    assert "'visit' read as dates, day-first (%d/%m/%Y)" in loaded.scenario
    iso = reading.read(messy("visits.csv"))
    request = forget_requests.forget_request(iso, messy("visits.csv", forget="where:visit < '2023-02-15'"))
    assert request.rows.tolist() == np.flatnonzero(visits < "2023-02-15").tolist()
    assert "write it in that format or as YYYY-MM-DD" in problems_of(
        messy("visits.csv", forget="where:visit < '15-02-2023'"))


def test_dates_that_read_day_first_and_month_first_are_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("visit,x,y\n" + "".join(f"0{1 + i % 9}/0{1 + i % 7}/2023,{i},{'ab'[i % 2]}\n" for i in range(40)))
    found = problems_of(params(dataset=f"csv:{path}", target="y", forget="where:visit < '01/02/2023'"))
    assert "read either as" in found and "no day above 12" in found and "YYYY-MM-DD" in found


def test_na_values_apply_to_parquet_number_columns_and_are_counted():
    written = pd.read_parquet(MESSY / "sentinels.parquet")
    table = reading.read(messy("sentinels.parquet", na_values=["-999"]))
    assert not table.frame[["income", "age"]].eq(-999).any().any()
    assert table.frame["income"].isna().sum() == written["income"].eq(-999).sum() > 0
    n = written[["income", "age"]].eq(-999).sum()
    assert table.reading["missing values"] == (f"nulls and '-999' (na_values: {n.sum()} cells, in 'income' "
                                               f"{n['income']}, 'age' {n['age']})")
    as_csv = MESSY.parent / "sentinels.csv"
    try:  # the same table as CSV reads alike
        written.to_csv(as_csv, index=False)
        pd.testing.assert_frame_equal(reading.read(params(dataset=f"csv:{as_csv}", target="outcome",
                                                           na_values=["-999"])).frame, table.frame)
    finally:
        as_csv.unlink()


def test_decimal_columns_read_as_numbers():
    table = reading.read(messy("decimals.parquet"))
    assert table.numeric == ["price", "age"] and table.frame["price"].dtype == "float64"
    assert "DECIMAL columns read as floating-point numbers: 'price'" in table.notes


def test_float_ids_are_compared_as_integers_and_said(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"{i}\n" for i in range(1, 121, 10)))
    loaded = tensors.load(messy("float_ids.parquet", id_column="id", forget=f"ids:{path}"))
    assert sorted(loaded.ids["forget"]) == list(range(1, 121, 10))
    assert "compared with an id list as integers (1, 2, 3)" in loaded.description.notes
    path.write_text("".join(f"{i}.5\n" for i in range(12)))
    assert "the table's ids read '1', '2', '3'" in problems_of(messy("float_ids.parquet", id_column="id",
                                                                   forget=f"ids:{path}"))


def test_an_id_column_not_named_in_id_column_refuses_a_list_of_ids(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"{i}\n" for i in range(5, 60, 5)))
    found = problems_of(messy("numbered.csv", forget=f"ids:{path}"))
    assert "column of row ids, 'id'" in found and "set id_column: id" in found and "drop_columns" in found
    by_id = tensors.load(messy("numbered.csv", id_column="id", forget=f"ids:{path}"))
    assert sorted(by_id.ids["forget"], key=int) == [str(i) for i in range(5, 60, 5)]  # id_column: read as text
    by_position = tensors.load(messy("numbered.csv", drop_columns=["id"], forget=f"ids:{path}"))
    assert sorted(by_position.ids["forget"]) == list(range(5, 60, 5)) and "id" not in by_position.feature_names


def test_a_record_number_that_follows_the_label_is_warned_about():
    notes = reading.read(messy("record_numbers.csv")).notes
    assert any(n.startswith("warning: column 'record' holds a different whole number in every row") and
               "drop_columns" in n for n in notes)
    assert not any("'record'" in n for n in reading.read(messy("record_numbers.csv", drop_columns=["record"])).notes)
    assert not any("warning" in n for n in reading.read(messy("patients.csv")).notes)


def test_a_whole_number_column_that_tells_the_labels_apart_is_warned_about(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b"], 100)
    code = np.where(y == "a", 0, 1000) + rng.permutation(100)  # unique, shuffled, given out by label
    pd.DataFrame({"code": code, "x": rng.normal(size=100), "y": y}).to_csv(tmp_path / "t.csv", index=False)
    notes = reading.read(params(dataset=f"csv:{tmp_path / 't.csv'}", target="y")).notes
    assert any("'code'" in n and "alone tells the labels apart" in n for n in notes)


def test_excels_sep_line_is_skipped_and_trailing_empty_rows_dropped():
    table = reading.read(messy("excel_debris.csv", id_column="patient_id"))
    assert len(table.frame) == 120 and table.n_unlabelled == 0 and table.ids[0] == "001000"
    assert "Excel's sep= first line, skipped" in table.reading["read as"]
    assert "4 empty rows at the end of the file" in table.notes[0]


def test_ids_equal_after_trimming_are_refused_as_repeated():
    found = problems_of(messy("spaced_ids.csv", id_column="patient_id", forget=f"ids:{MESSY / 'ids_no_header.csv'}"))
    assert "1 ids occur more than once in 'patient_id' (surrounding spaces trimmed" in found
    assert "'001000', '001000 '" in found


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_names_match_whatever_their_unicode_form(form):
    import unicodedata

    def name(text):
        return unicodedata.normalize(form, text)

    P = messy("decomposed.csv", target=name("résultat"), forget=f"where:{name('âge')} > 50",
              categorical_columns=[name("ville")])
    assert problems_of(P) == ""
    table = reading.read(P)
    assert table.target == "résultat" and table.numeric == ["âge"] and table.categorical == ["ville"]


def test_a_table_too_small_to_split_says_so():
    assert problems_of(messy("three_rows.csv")) == ("dataset: only 3 rows have a value of 'outcome', too few to split: "
                                                    "the retain, forget and test sets need 10 rows each (30 in all); "
                                                    "use a larger table")


def parquet_kinds(n):
    """``n`` values of each column kind a Parquet file holds: nullable integer, boolean, category, datetime, decimal
    and text."""
    import decimal

    rng = np.random.default_rng(0)
    kinds = {
        "count": pd.array(rng.integers(0, 9, n), dtype="Int64"),
        "flag": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "kind": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        "when": pd.Series(pd.date_range("2020-01-01", periods=n)),
        "price": pd.Series([decimal.Decimal(f"{v:.2f}") for v in rng.random(n) * 100], dtype=object),
        "note": pd.array(rng.choice(["p", "q"], n), dtype="string"),
    }
    return {name: pd.Series(values) for name, values in kinds.items()}


@pytest.mark.parametrize("kind", ["count", "flag", "kind", "when", "price", "note"])
@pytest.mark.parametrize("missing", ["in the forget rows", "outside the forget rows"])
def test_every_column_kind_survives_a_split_where_it_is_all_missing(tmp_path, kind, missing):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 120
    kinds = parquet_kinds(n)
    column = kinds[kind].copy()
    forget = np.arange(n) < 20
    column[forget if missing == "in the forget rows" else ~forget] = None
    frame = pd.DataFrame({"x": np.random.default_rng(1).random(n), kind: column, "grp": forget.astype(int),
                          "y": np.array(["a", "b"])[np.arange(n) % 2]})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if kind == "price":
        table = table.set_column(1, "price", pa.array(column.tolist(), pa.decimal128(9, 2)))
    pq.write_table(table, tmp_path / "kinds.parquet")
    P = params(dataset=f"parquet:{tmp_path / 'kinds.parquet'}", target="y", forget="where:grp == 1")
    assert splits.problems(P) == []
    loaded = tensors.load(P)
    for name in ["X_retain", "X_forget", "X_test"]:
        assert not getattr(loaded.splits, name).isnan().any()
    assert loaded.splits.sizes["forget"] == 20
