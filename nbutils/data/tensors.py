"""A table's retain / forget / test splits as tensors, encoded by a preprocessor fit on the retain rows only.

Reading the table and choosing its rows is the other ``nbutils.data`` modules' job (torch-free, so parameters can be
checked without PyTorch); this module fits scikit-learn's ``ColumnTransformer`` and moves the result to a device.
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

from nbutils import chain, exported
from nbutils.data import column_kinds, description, forget_requests, reading
from nbutils.data.splits import split_rows, unfit_columns

CHUNK_ROWS = 16_384  # rows encoded at a time: bounds the float64 intermediates to 128 KiB per feature


@dataclass(frozen=True)
class Splits:
    """Encoded features (float32) and class indices (int64) of each split, on one device."""

    X_retain: torch.Tensor
    y_retain: torch.Tensor
    X_forget: torch.Tensor
    y_forget: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def X_train(self):
        """Retain and forget rows: what the original model is trained on."""
        return torch.cat([self.X_retain, self.X_forget])

    @property
    def y_train(self):
        return torch.cat([self.y_retain, self.y_forget])

    @property
    def sizes(self):
        return {"retain": len(self.y_retain), "forget": len(self.y_forget), "test": len(self.y_test)}


@dataclass(frozen=True)
class Dataset:
    """A table ready for training: its splits as tensors, and what the report needs to describe them."""

    splits: Splits
    ids: dict  # "retain", "forget", "test" -> numpy array of row ids (id_column values, or positions in the file)
    class_names: list  # class index -> the label as the table spells it
    feature_names: list  # encoded feature columns: numeric ones, then one per category ("sex_female")
    request: forget_requests.ForgetRequest  # kind "random", "class", "where" or "ids"; class_index for class forgetting
    scenario: str  # Markdown: what is forgotten, how the test set was drawn, how to read the metrics
    description: description.Description  # section 1's tables
    stratified: bool  # whether the test rows were drawn stratified by class
    preprocessing: dict  # "columns": the fitted ColumnTransformer, "labels": a LabelEncoder of class_names

    @property
    def n_classes(self):
        return len(self.class_names)

    @property
    def n_features(self):
        return len(self.feature_names)


def load(P, device="cpu", replicate=0):
    """The table, forget request and splits that parameters ``P`` name (checked by ``splits.problems``), for one
    replicate.

    For a ``random`` request every replicate, tuning or report, draws its own forget set from (``data_seed``,
    ``train_seed``, its number), so reseeding the models reseeds the forget sets too; the test set is
    ``data_seed``'s. Other requests name their rows, which stay. A request on an exported model
    (``original_model``) keeps that model's test rows and encoder (:func:`nbutils.chain.rows`)."""
    table = reading.read(P)
    request = forget_requests.forget_request(table, P)
    if P.get("original_model"):  # a request on an exported model (parameters built by hand may lack it)
        rows, preprocessing = chain.rows(table, request, P), exported.load_preprocessing(P["original_model"])
    else:
        forget_seed = int(np.random.SeedSequence([P["data_seed"], P["train_seed"], replicate]).generate_state(1)[0])
        rows = split_rows(table, request, test_ratio=P["test_ratio"], forget_ratio=P["forget_ratio"],
                          seed=P["data_seed"], forget_seed=forget_seed)
        preprocessing = {"columns": fitted_preprocessor(table, rows), "labels": label_encoder(table.class_names)}
    splits, feature_names = encode(table, rows, device, preprocessing["columns"])
    return Dataset(splits, {name: table.ids[positions] for name, positions in rows.items()}, table.class_names,
                   feature_names, request, description.scenario(table, request, rows)
                   + (" " + chain.scenario_note(P, rows) if P.get("original_model") else ""),
                   description.describe(table, rows, len(feature_names)), rows.stratified, preprocessing)


def for_replicate(dataset, P, device, replicate):
    """Replicate ``replicate``'s data: ``dataset`` read again with its own forget set for a ``random`` request,
    ``dataset`` itself for the others, whose forget rows the request names."""
    return load(P, device, replicate) if dataset.request.kind == "random" else dataset


def split(X, y, *, test_ratio, forget_ratio, seed, device="cpu"):
    """The seed's scenario on arrays: a stratified test share, then a stratified forget share of the rest."""
    table = reading.from_arrays(X, y)
    rows = split_rows(table, forget_requests.RANDOM, test_ratio=test_ratio, forget_ratio=forget_ratio, seed=seed)
    return encode(table, rows, device)[0]


def preprocessor(numeric, categorical, gaps=()):
    """Numbers: median imputation (of the columns in ``gaps``, those with a missing value anywhere in the table;
    imputation is the slow, memory-hungry step at a million rows), then standard scaling. Categories: the most
    frequent value imputed, then one-hot encoding; a category unseen when fitting encodes as all zeros.

    ``fit`` also transforms the rows it fits on; with categories the result stays a sparse matrix, not a dense
    float64 copy of the retain rows (1.4 GB at 720,000 rows and 240 encoded features)."""
    return ColumnTransformer([
        ("gaps", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [c for c in numeric if c in gaps]),
        ("numeric", StandardScaler(), [c for c in numeric if c not in gaps]),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore", dtype=np.float32)), categorical),
    ], sparse_threshold=1.0, verbose_feature_names_out=False)


def fitted_preprocessor(table, rows):
    """The preprocessor fit on the retain rows; a column with no value in them is left out
    (``unfit_columns``)."""
    gaps = [c for c in table.numeric if table.frame[c].isna().any()]
    unfit = unfit_columns(table, rows)
    numeric = [c for c in table.numeric if c not in unfit]
    categorical = [c for c in table.categorical if c not in unfit]
    return preprocessor(numeric, categorical, gaps).fit(column_kinds.features(table, rows.retain))


def label_encoder(class_names):
    """A fitted LabelEncoder whose class index i is ``class_names[i]`` (the table's order, kept as it is)."""
    encoder = LabelEncoder()
    encoder.classes_ = np.array(class_names, dtype=object)
    return encoder


def encode(table, rows, device="cpu", fitted=None):
    """(Splits, encoded feature names): ``fitted`` (default: :func:`fitted_preprocessor`) applied to every
    split."""
    fitted = fitted_preprocessor(table, rows) if fitted is None else fitted
    tensors = {}
    for name, positions in rows.items():
        tensors[f"X_{name}"] = torch.from_numpy(_transform(fitted, table, positions)).to(device)
        tensors[f"y_{name}"] = torch.from_numpy(table.labels[positions]).to(device)
    return Splits(**tensors), list(fitted.get_feature_names_out())


def _transform(fitted, table, positions):
    """float32 features of the rows at ``positions``, encoded ``CHUNK_ROWS`` at a time."""
    out = np.empty((len(positions), len(fitted.get_feature_names_out())), dtype=np.float32)
    for start in range(0, len(positions), CHUNK_ROWS):
        chunk = positions[start:start + CHUNK_ROWS]
        encoded = fitted.transform(column_kinds.features(table, chunk))
        out[start:start + len(chunk)] = encoded.toarray() if sparse.issparse(encoded) else encoded
    return out
