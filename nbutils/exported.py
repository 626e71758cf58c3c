"""A model exported by a run (:mod:`nbutils.export`), loaded back: its network, and a predictor on raw rows.

Loading reads three files of the folder: the weights (safetensors), the fitted preprocessing (skops) and the
architecture in ``deletion-record.json``. It imports PyTorch, scikit-learn and the model's module, not the
notebook's machinery.
"""

import types

import numpy as np
import skops.io
import torch
from safetensors.torch import load_file

from nbutils import chain
from nbutils.data import column_kinds
from nbutils.model import MLPEnsemble


def load_network(path, device="cpu"):
    """The exported network in model folder ``path``: an :class:`MLPEnsemble` of one model, in evaluation mode."""
    shape = chain.read_record(path)["model"]
    network = MLPEnsemble(1, shape["n_features"], shape["hidden_sizes"], shape["n_classes"], shape["dropout"],
                          torch.Generator(device=device))
    network.load_state_dict(load_file(chain.folder(path) / chain.WEIGHTS, device=str(device)))
    return network.eval()


TRUSTED = ["numpy.dtype"]  # beyond skops' defaults: the one-hot encoder's float32 dtype, a type and no code


def load_preprocessing(path):
    """The fitted column transformer and label encoder of model folder ``path``, read with skops (never pickle),
    which refuses any type beyond its defaults (scikit-learn's estimators, numpy's arrays) and :data:`TRUSTED`."""
    return skops.io.load(chain.folder(path) / chain.PREPROCESSING, trusted=TRUSTED)


class ExportedModel:
    """An exported model that predicts from raw rows: ``predict_proba(frame)`` and ``predict(frame)`` take a
    pandas DataFrame with the table's feature columns, as ``nbutils.data.reading.read`` gives them (other columns,
    the target's included, are ignored).

    Attributes: ``classes_`` (the labels as the table spells them, in the order of ``predict_proba``'s columns),
    ``record`` (the deletion record), ``network`` and ``preprocessing``.
    """

    def __init__(self, path):
        self.record = chain.read_record(path)
        self.network = load_network(path)
        self.preprocessing = load_preprocessing(path)
        self.classes_ = self.preprocessing["labels"].classes_
        self._columns = {kind: self.record["table"][kind] for kind in ("numeric", "categorical")}

    def encoded(self, frame):
        """The rows of ``frame`` encoded as the model's training rows were: float32, one row per row."""
        missing = [c for c in self._columns["numeric"] + self._columns["categorical"] if c not in frame.columns]
        if missing:
            raise ValueError(f"the rows lack the model's feature columns {missing}; give every column of the table "
                             f"it was trained on (numeric {self._columns['numeric']}, categorical "
                             f"{self._columns['categorical']})")
        table = types.SimpleNamespace(frame=frame, **self._columns)  # what column_kinds.features reads of a table
        features = column_kinds.features(table, np.arange(len(frame)))
        encoded = self.preprocessing["columns"].transform(features)
        return np.asarray(encoded.toarray() if hasattr(encoded, "toarray") else encoded, dtype=np.float32)

    @torch.no_grad()
    def predict_proba(self, frame):
        """Class probabilities, (rows, classes) float64, columns in the order of ``classes_``."""
        logits = self.network(torch.from_numpy(self.encoded(frame)))[0].T.double()
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, frame):
        """The most probable class of each row, as the table spells its labels."""
        return self.preprocessing["labels"].inverse_transform(self.predict_proba(frame).argmax(axis=1))


def load_model(path):
    """The model exported to folder ``path`` (e.g. ``reports/<run>/model``) as an :class:`ExportedModel`."""
    return ExportedModel(path)
