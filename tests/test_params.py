import ast

import pytest
import torch

from nbutils import params
from nbutils.methods import METHODS
from nbutils.params import ParameterError


def check(given, *fragments):
    with pytest.raises(ParameterError) as error:
        params.validate(given)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_defaults_are_valid_and_come_from_the_notebook():
    p = params.validate({})
    assert p["n_samples"] == 2000 and p["hidden_sizes"] == [64, 32, 16]
    assert p["gaussian_sigmas"] == [0.001, 0.005, 0.01, 0.05, 0.1]


def test_split_sizes_round_as_scikit_learn_does(seed_splits):
    assert params.split_sizes(2000, 0.2, 0.1) == (1440, 160, 400) == tuple(seed_splits.sizes.values())


def test_the_notebooks_default_methods_are_every_method():
    assert params.defaults()["methods"] == list(METHODS)


def test_unknown_name_is_refused_with_the_closest_valid_one():
    check({"n_sample": 100}, "unknown parameter 'n_sample'", "did you mean 'n_samples'")


@pytest.mark.parametrize("name, value", [("epochs", 2.5), ("epochs", "10"), ("dropout", "high"), ("n_seeds", True),
                                         ("gaussian_sigmas", 0.1), ("hidden_sizes", [64.5]), ("methods", "gaussian")])
def test_wrong_types_are_refused(name, value):
    check({name: value}, f"{name}: expected a value like")


@pytest.mark.parametrize("name", ["gaussian_sigmas", "laplacian_scales", "adaptive_base_sigmas", "gradient_multipliers"])
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_noise_levels_must_be_finite_and_non_negative(name, bad):
    check({name: [0.01, bad]}, f"{name}: noise levels must be finite and non-negative")


def test_layerwise_strategies_need_one_sigma_per_linear_layer_and_sane_values():
    check({"layerwise_strategies": {"Short": [0.01, 0.01]}}, "needs one sigma per Linear layer (4), got 2")
    check({"layerwise_strategies": {"Neg": [0.01, 0.01, -1.0, 0.01]}}, "finite and non-negative")


@pytest.mark.parametrize("name, value", [("test_ratio", 0.0), ("test_ratio", 1.0), ("forget_ratio", -0.1),
                                         ("forget_ratio", 1.5)])
def test_split_ratios_must_lie_strictly_between_0_and_1(name, value):
    check({name: value}, f"{name}: must lie strictly between 0 and 1")


def test_too_few_informative_features_for_the_classes():
    check({"n_classes": 5, "n_informative": 2}, "n_classes (5) needs n_informative of at least 4")


def test_forget_set_too_small_to_stratify():
    check({"n_samples": 40, "forget_ratio": 0.05}, "the forget set would have 2 rows, too few to stratify 2 classes")


def test_unknown_method_names_the_choices():
    check({"methods": ["gausian"]}, "unknown method 'gausian'", "did you mean 'gaussian'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_without_a_gpu():
    check({"device": "cuda"}, "no CUDA GPU")
    assert params.validate({"device": "auto"})["device"] == "auto"


def test_batches_need_two_rows_and_seeds_are_not_negative():
    check({"batch_size": 1, "train_seed": -1}, "batch_size: BatchNorm needs at least 2 rows", "train_seed: seeds must be 0 or more")


def test_every_problem_is_reported_at_once():
    check({"epochs": 0, "test_ratio": 2.0}, "epochs: must be at least 1", "test_ratio")


def test_yaml_layers_later_wins(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("epochs: 5\nn_seeds: 2\n")
    b.write_text("epochs: 7\n")
    assert params.load([a, b], {"n_seeds": 3}) == {"epochs": 7, "n_seeds": 3}
    b.write_text("- not a mapping\n")
    with pytest.raises(ParameterError, match="expected a mapping"):
        params.load([b])


def test_kernel_values_are_the_known_names_and_papermills_injected_ones():
    namespace = {"n_samples": 100, "epochs": 3, "n_sample": 5, "splits": object()}
    history = ["import x", "# Parameters\nn_sample = 5\nepochs = 3\n", "P = validate(...)"]
    assert params.from_kernel(namespace, history) == {"n_samples": 100, "epochs": 3, "n_sample": 5}
    # interactively, without an injected cell, later globals (``splits``) are never taken for parameters
    assert params.from_kernel(namespace, ["import x"]) == {"n_samples": 100, "epochs": 3}


def test_defaults_match_what_papermill_reads_from_the_notebook():
    import papermill

    spec = papermill.inspect_notebook(str(params.NOTEBOOK))
    assert params.defaults() == {name: ast.literal_eval(p["default"]) for name, p in spec.items()}


@pytest.mark.parametrize("name", ["", "..", "../../outside", "a/b", "a\\b", "/tmp/abs", "x..y"])
def test_a_run_name_must_be_one_folder_under_reports(name):
    check({"run_name": name}, "is not a valid run name", "one folder name")


def test_a_plain_run_name_is_accepted():
    assert params.validate({"run_name": "my-run_2.1"})["run_name"] == "my-run_2.1"


@pytest.mark.parametrize("given, fragment", [
    ({"gaussian_sigmas": []}, "gaussian_sigmas: give at least one setting"),
    ({"layerwise_strategies": {}}, "layerwise_strategies: give at least one setting"),
    ({"finetune_steps": [0, 50, 0]}, "finetune_steps: [0] listed more than once"),
])
def test_an_empty_or_repeated_sweep_is_refused(given, fragment):
    check(given, fragment)


def test_an_empty_sweep_of_a_method_left_out_is_fine():
    assert params.validate({"methods": ["gaussian"], "laplacian_scales": []})["laplacian_scales"] == []


def test_a_forget_mapping_made_by_a_space_after_the_colon_names_the_fix():
    check({"forget": {"where": "age > 50"}}, "YAML read {'where': 'age > 50'} as a mapping",
          "write forget: 'where:age > 50'")


def test_the_reading_parameters_default_to_empty_cells_detection_and_raw_labels():
    p = params.validate({})
    assert p["na_values"] == [] and p["csv_separator"] == "" and p["normalize_labels"] is False
    check({"na_values": [-999]}, "na_values: expected a value like a list of texts")
    check({"csv_separator": ";;"}, "csv_separator: one character, or '' to detect it")


@pytest.mark.parametrize("given, fragment", [
    ({"report_replicates": 0}, "report_replicates: at least 1 replicate"),
    ({"report_replicates": 1.5}, "report_replicates: expected a value like 3"),
    ({"tuning_replicates": 0}, "tuning_replicates: at least 1 replicate"),
    ({"cost_budget": 0}, "cost_budget: a share of retraining's work in (0, 1]"),
    ({"challenge_protocol": "one-original"}, "did you mean 'one_original'"),
    ({"challenge_protocol": "one_original", "challenge_models": 0}, "set challenge_models to 3 or more"),
])
def test_replicates_and_the_challenge_protocol_are_checked_before_anything_runs(given, fragment):
    check(given, fragment)
