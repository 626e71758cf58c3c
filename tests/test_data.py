import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from nbutils import PARAMETERS, data, datasets

BASE = dict(dataset="synthetic", target="", id_column="", categorical_columns=[], numeric_columns=[], drop_columns=[],
            forget="random", forget_ratio=0.1, test_ratio=0.2, data_seed=42, n_samples=2000, n_features=20,
            n_informative=15, n_redundant=3, n_classes=2, flip_y=0.1)


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
    return "\n".join(datasets.problems(P))


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
    loaded = data.load(params())
    for name in ["X_retain", "y_retain", "X_forget", "y_forget", "X_test", "y_test"]:
        assert torch.equal(getattr(loaded.splits, name), getattr(seed_splits, name))
    assert loaded.class_names == ["0", "1"] and loaded.n_features == 20


def test_encoding_in_chunks_equals_encoding_at_once(monkeypatch):
    P = params("datasets/penguins.yaml")
    whole = data.load(P).splits
    monkeypatch.setattr(data, "CHUNK_ROWS", 7)
    torch.testing.assert_close(data.load(P).splits.X_retain, whole.X_retain, rtol=0, atol=0)


# Every shipped dataset and scenario

SHIPPED = [["datasets/synthetic.yaml"], ["datasets/breast_cancer.yaml"], ["datasets/penguins.yaml"],
           ["datasets/example.yaml"], ["datasets/penguins.yaml", "forget/penguins_class.yaml"],
           ["datasets/penguins.yaml", "forget/penguins_where.yaml"], ["datasets/example.yaml", "forget/random.yaml"]]


@pytest.mark.parametrize("files", SHIPPED, ids=lambda files: "+".join(f.split("/")[1][:-5] for f in files))
def test_shipped_parameter_files_load_with_disjoint_splits(files):
    P = params(*files)
    assert datasets.problems(P) == []
    loaded = data.load(P)
    ids = {name: set(v.tolist()) for name, v in loaded.ids.items()}
    assert not ids["forget"] & ids["test"] and not ids["forget"] & ids["retain"] and not ids["retain"] & ids["test"]
    for name, n in loaded.splits.sizes.items():
        X = getattr(loaded.splits, f"X_{name}")
        assert X.dtype == torch.float32 and X.shape == (n, loaded.n_features) and not X.isnan().any()
        assert len(loaded.ids[name]) == n
    assert loaded.description.classes.loc[:, "retain":"test"].to_numpy().sum() == sum(loaded.splits.sizes.values())


def test_string_labels_keep_their_names():
    loaded = data.load(params("datasets/penguins.yaml"))
    assert loaded.class_names == ["Adelie", "Chinstrap", "Gentoo"] and loaded.n_classes == 3
    assert "island_Dream" in loaded.feature_names and "sex_female" in loaded.feature_names


def test_relative_paths_are_read_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as papermill runs the notebook from notebooks/
    loaded = data.load(params("datasets/example.yaml"))
    assert sorted(loaded.ids["forget"]) == (PARAMETERS / "datasets/example/forget_ids.txt").read_text().split()


# Preprocessing

def test_imputation_and_encoding_are_fit_on_the_retain_rows_only(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan] * 30, "c": ["a", "b", None, "a"] * 30,
                          "y": ["p", "q", "p", "q"] * 30})
    frame.loc[:9, "c"] = "only_forgotten"  # a category seen only in the forget rows
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    P = params(dataset=f"csv:{path}", target="y", forget="where:c == 'only_forgotten'")
    loaded = data.load(P)
    assert "c_only_forgotten" not in loaded.feature_names  # unknown to the encoder
    X_forget = pd.DataFrame(loaded.splits.X_forget.numpy(), columns=loaded.feature_names)
    assert (X_forget[["c_a", "c_b"]] == 0).all().all()  # encoded as all zeros
    X_retain = pd.DataFrame(loaded.splits.X_retain.numpy(), columns=loaded.feature_names)
    assert abs(X_retain["x"].mean()) < 1e-6  # scaled on the retain rows, missing values imputed before
    assert X_retain[["c_a", "c_b"]].sum(axis=1).eq(1).all()  # a missing category became the most frequent one


def test_declared_kinds_override_detection(patients):
    loaded = data.load(csv_params(patients, categorical_columns=["age"], drop_columns=["colour"]))
    assert not any(f.startswith("colour") for f in loaded.feature_names)
    assert sum(f.startswith("age_") for f in loaded.feature_names) > 10
    assert loaded.description.columns.loc["colour", "kind"] == "dropped"


# Forget scenarios

def test_class_forgetting_forgets_every_training_row_of_the_class_and_tests_on_it():
    loaded = data.load(params("datasets/penguins.yaml", "forget/penguins_class.yaml"))
    chinstrap = loaded.class_names.index("Chinstrap")
    s = loaded.splits
    assert (s.y_forget == chinstrap).all() and not (s.y_retain == chinstrap).any()
    assert len(s.y_forget) + (s.y_test == chinstrap).sum().item() == 68  # every Chinstrap row: forget or test
    assert loaded.request.class_index == chinstrap and "about 0 %" in loaded.scenario
    test_share = (s.y_test == chinstrap).float().mean().item()
    assert abs(test_share - 68 / 344) < 0.02  # the test set is stratified


def test_where_forgets_exactly_the_matching_rows():
    table = datasets.read(params("datasets/penguins.yaml"))
    loaded = data.load(params("datasets/penguins.yaml", forget="where:island == 'Dream' and body_mass_g > 3800"))
    expected = np.flatnonzero((table.frame["island"] == "Dream") & (table.frame["body_mass_g"] > 3800))
    assert sorted(loaded.ids["forget"]) == expected.tolist()


@pytest.mark.parametrize("listing", ["text", "csv"])
def test_ids_forget_the_listed_rows(patients, tmp_path, listing):
    wanted = ["r3", "r17", "r40", "r41", "r42", "r60", "r61", "r90", "r91", "r100", "r119"]
    path = tmp_path / ("ids.txt" if listing == "text" else "ids.csv")
    path.write_text("\n".join(wanted) + "\n" if listing == "text" else "id,reason\n" + "".join(f"{i},gdpr\n" for i in wanted))
    loaded = data.load(csv_params(patients, forget=f"ids:{path}"))
    assert sorted(loaded.ids["forget"]) == sorted(wanted)
    assert not set(loaded.ids["test"]) & set(wanted)


def test_ids_are_row_positions_without_an_id_column(patients, tmp_path):
    path = tmp_path / "rows.txt"
    path.write_text("\n".join(str(i) for i in range(0, 120, 10)))
    loaded = data.load(csv_params(patients, id_column="", drop_columns=["id"], forget=f"ids:{path}"))
    assert sorted(loaded.ids["forget"]) == list(range(0, 120, 10))


def test_description_counts_rows_columns_missing_values_and_classes(patients):
    loaded = data.load(csv_params(patients))
    d = loaded.description
    assert d.overview["rows"] == 120 and d.overview["numeric features"] == 1 and d.overview["categorical features"] == 1
    assert d.columns.loc["id", "kind"] == "id" and d.columns.loc["age", "missing"] > 0
    assert d.classes["table"].tolist() == [40, 40, 40]
    assert d.splits["rows"].to_dict() == loaded.splits.sizes


def test_rows_without_a_label_are_left_out(tmp_path):
    frame = pd.DataFrame({"x": range(100), "y": ["a", "b", None, "c"] * 25})
    frame.to_csv(tmp_path / "t.csv", index=False)
    loaded = data.load(params(dataset=f"csv:{tmp_path / 't.csv'}", target="y"))
    assert sum(loaded.splits.sizes.values()) == 75 and loaded.description.overview["rows left out (no target value)"] == 25


# Bad input: refused before any training, each with its fix

def test_validation_imports_no_pytorch():
    code = "import sys, nbutils.datasets; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("content, kind, fragments", [
    (None, "csv", ["no file", "project root"]),
    (b"", "csv", ["is empty"]),
    (b"\xff\xfe\x00\x81binary\x00\x9c", "csv", ["neither CSV", "nor Parquet"]),
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
    monkeypatch.setattr(datasets, "MAX_CATEGORIES", 100)
    assert problems_of(csv_params(patients)) == ""  # the id column is no feature
    assert "column 'id' has 120 distinct values" in problems_of(csv_params(patients, id_column=""))


def test_unknown_forget_kind_is_refused():
    assert "use random, class:<label>" in problems_of(params(forget="rows:1,2"))
