"""The unlearning methods, each applied to every model of an ensemble at once, and their registry.

``noise``: the seed's five. ``fisher``: Fisher forgetting. ``finetune``: the
fine-tuning control, noise then repair, Langevin unlearning. ``certified``:
certified output perturbation. ``dampening``: Selective Synaptic Dampening.
``baselines``: the field's standard methods (NegGrad+, SCRUB, SalUn, CF-k, EU-k, l1-sparse, Bad Teacher)
and noise then repair with a choice of repair; ``competition``: the NeurIPS 2023 competition's top three.
Both run on ``steps``, gradient steps with any loss on the logits. Every method returns a new model and
leaves its input untouched. What each method is, and which function runs it, is :mod:`nbutils.catalog`'s.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields

from nbutils.catalog import ADDS_NOISE, CATALOG, Entry

__all__ = ["ADDS_NOISE", "METHODS", "Method"]


@dataclass(frozen=True)
class Method(Entry):
    """A catalog entry with its function: ``apply(model, value, generator, splits, params)`` returns the unlearned
    copy of every model; ``value`` is one setting of the sweep, ``generator`` the method's random stream,
    ``splits`` holds X_retain, y_retain, X_forget, y_forget on the model's device, and ``params`` is the
    notebook's parameter dict, of which the method reads only the names in ``reads``."""

    apply: Callable | None = None


def _function(path):
    """The function a dotted path "package.module:name" names."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


METHODS = {name: Method(**{f.name: getattr(entry, f.name) for f in fields(entry)}, apply=_function(entry.function))
           for name, entry in CATALOG.items()}
