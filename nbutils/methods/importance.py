"""Importances computed once per model and data, then reused by every setting of a sweep, each use charged in full.

Fisher forgetting and dampening weigh their change to each parameter by an importance (a diagonal Fisher)
that depends on the model and the rows only, not on the setting. :func:`cached` computes it on first use and
hands the same tensors to every later setting, as long as the model's parameters and buffers are unchanged
(their version counters) and the rows are the same tensors. Costs stay honest: every reuse adds the importance's
multiply-adds to :mod:`nbutils.cost`'s count and, inside :func:`charged`, its measured seconds, so each
setting's cost is what it would cost alone.
"""

import contextlib
import time
import weakref
from dataclasses import dataclass

import torch

from nbutils import cost

_cache = weakref.WeakKeyDictionary()  # model -> {kind: _Entry}
_charges = []  # one list per open charged() block, innermost last


@dataclass
class _Entry:
    versions: tuple
    rows: tuple
    value: object
    seconds: float
    macs: int  # its multiply-adds (:mod:`nbutils.cost`)


def _versions(model):
    return tuple(t._version for t in [*model.parameters(), *model.buffers()])


def cached(kind, model, rows, compute):
    """``compute()``'s value for ``model`` and the tensors ``rows`` it reads, computed once and reused.

    ``kind`` names the importance; the value must not be modified by its users.
    """
    entries = _cache.setdefault(model, {})
    entry = entries.get(kind)
    if (entry is not None and entry.versions == _versions(model) and len(entry.rows) == len(rows)
            and all(a is b for a, b in zip(entry.rows, rows))):
        for hits in _charges:
            hits.append(entry.seconds)
        cost.add(entry.macs)
        return entry.value
    start = time.perf_counter()
    with cost.counted() as work:
        value = compute()
    if any(t.is_cuda for t in rows):
        torch.cuda.synchronize()
    entries[kind] = _Entry(_versions(model), tuple(rows), value, time.perf_counter() - start, work.macs)
    return value


@contextlib.contextmanager
def charged():
    """Yields a list that collects the measured seconds of every importance reused inside the block."""
    hits = []
    _charges.append(hits)
    try:
        yield hits
    finally:
        _charges.remove(hits)
