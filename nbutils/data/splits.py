"""The retain, forget and test rows, and whether each is large enough to evaluate; ``problems(P)`` runs every
check on the data parameters before any training."""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from nbutils.data.forget_requests import forget_request
from nbutils.data.reading import read
from nbutils.data.refusals import MIN_ROWS, DataError


@dataclass(frozen=True)
class RowSplit:
    """Table positions of the retain, forget and test rows; ``stratified`` says whether the test draw was."""

    retain: np.ndarray
    forget: np.ndarray
    test: np.ndarray
    stratified: bool

    def items(self):
        return {"retain": self.retain, "forget": self.forget, "test": self.test}.items()


def split_sizes(n_rows, test_ratio, forget_ratio):
    """(retain, forget, test) row counts of the random scenario, rounded as ``train_test_split`` rounds."""
    n_test = math.ceil(test_ratio * n_rows)
    n_forget = math.ceil(forget_ratio * (n_rows - n_test))
    return n_rows - n_test - n_forget, n_forget, n_test


def split_rows(table, request, *, test_ratio, forget_ratio, seed, forget_seed=None):
    """Retain, forget and test rows; the test rows never include a forget row.

    random: a stratified test share of the table, then a stratified forget share of the rest (the seed's split),
    drawn with ``forget_seed`` (default ``seed``): a report replicate draws a fresh forget set, same test set.
    class: the same test draw, so the test set keeps the class's share of rows, which no model trains on;
    the forget set is every other row of the class. where, ids: the request fixes the forget rows; the test
    set is a stratified ``test_ratio`` of the other rows.
    """
    rows = np.arange(len(table.labels))
    if request.kind in ("random", "class"):
        train, test, stratified = _draw(rows, table.labels, test_ratio, seed)
        if request.kind == "random":
            retain, forget, _ = _draw(train, table.labels, forget_ratio, seed if forget_seed is None else forget_seed)
        else:
            in_class = table.labels[train] == request.class_index
            retain, forget = train[~in_class], train[in_class]
        return RowSplit(retain, forget, test, stratified)
    others = np.setdiff1d(rows, request.rows)
    retain, test, stratified = _draw(others, table.labels, test_ratio, seed)
    return RowSplit(retain, request.rows, test, stratified)


def unfit_columns(table, rows):
    """Feature columns with no value in the retain rows: the encoder, fit on those rows, leaves them out."""
    retain = table.frame.iloc[rows.retain]
    return [c for c in table.numeric + table.categorical if retain[c].isna().all()]


def _draw(rows, labels, share, seed):
    """(kept, drawn, stratified): a ``share`` of ``rows`` drawn at random, stratified by label where possible."""
    y = labels[rows]
    n_drawn = math.ceil(share * len(rows))
    counts = np.bincount(y)
    classes = np.count_nonzero(counts)
    stratified = counts[counts > 0].min() >= 2 and classes <= n_drawn <= len(rows) - classes
    kept, drawn = train_test_split(rows, test_size=share, random_state=seed, stratify=y if stratified else None)
    return kept, drawn, stratified


def size_problems(table, request, P):
    """Sentences for a split too small to evaluate, or a retain set of one class. Sizes that follow from the
    ratios are checked before the rows are drawn (a draw from too few rows fails), the others after."""
    n, test_ratio, forget_ratio = len(table.labels), P["test_ratio"], P["forget_ratio"]
    if request.kind == "random":
        planned = dict(zip(["retain", "forget", "test"], split_sizes(n, test_ratio, forget_ratio)))
    elif request.kind == "class":
        planned = {"test": math.ceil(test_ratio * n), "training": n - math.ceil(test_ratio * n)}
    else:
        n_others = n - len(request.rows)
        planned = {"forget": len(request.rows), "test": math.ceil(test_ratio * n_others),
                   "retain": n_others - math.ceil(test_ratio * n_others)}
    problems = [_too_small(name, k, request.kind) for name, k in planned.items() if k < MIN_ROWS]
    if problems:
        return problems
    rows = split_rows(table, request, test_ratio=test_ratio, forget_ratio=forget_ratio, seed=P["data_seed"])
    problems = [_too_small(name, len(k), request.kind) for name, k in rows.items() if len(k) < MIN_ROWS]
    if len(unfit_columns(table, rows)) == len(table.numeric + table.categorical):
        problems.append("no feature column has a value in the retain rows, which the encoder is fit on; forget other "
                        "rows, or fill the features in")
    retained = np.unique(table.labels[rows.retain])
    if len(retained) == 1:
        problems.append(f"the retain set holds one class ({table.class_names[retained[0]]!r}); models need two or "
                        "more to learn anything; forget fewer rows")
    return problems


def _too_small(split, n, kind, fix=None):
    fix = fix or {"forget": {"random": "raise forget_ratio", "class": "forget a larger class",
                             "where": "widen the condition", "ids": "list more ids"}[kind],
                  "retain": "forget fewer rows or lower test_ratio", "test": "raise test_ratio",
                  "training": "lower test_ratio"}[split]
    return (f"the {split} set would have only {n} of the {MIN_ROWS} rows needed to evaluate it (one row would move "
            f"its accuracy by more than 10 points); {fix}")


def problems(P):
    """Every problem with the data parameters, each with its fix; empty when the data are usable. Reads the
    table once (the synthetic table with a random forget set needs no reading: its sizes follow from P)."""
    if P["dataset"] == "synthetic" and P["forget"] == "random":
        sizes = split_sizes(P["n_samples"], P["test_ratio"], P["forget_ratio"])
        return [_too_small(name, n, "random", "raise n_samples") for name, n in zip(["retain", "forget", "test"], sizes)
                if n < MIN_ROWS]
    try:
        table = read(P)
        return size_problems(table, forget_request(table, P), P)
    except DataError as error:
        return error.problems
