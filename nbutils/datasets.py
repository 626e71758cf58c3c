"""Tables, torch-free: reading one, the kinds of its columns, the rows a forget request names, the row splits.

``problems(P)`` runs all of it before any training and returns each problem with its fix; ``data.load`` turns
the same objects into tensors. Relative paths in ``dataset`` and ``forget`` are resolved from the project root,
so they mean the same from the command line, papermill (working directory ``notebooks/``) and pytest.
"""

import ast
import codecs
import csv
import difflib
import io
import keyword
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.common import get_handle, infer_compression
from pandas.tseries.api import guess_datetime_format
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from nbutils import ROOT

BUNDLED = ["synthetic", "breast_cancer", "penguins"]
FILE_KINDS = ["csv", "parquet"]
FORGET_KINDS = ["random", "class", "where", "ids"]
# Fewer forget, retain or test rows than this are refused: one row would move an accuracy by more than
# 10 points, and the loss attack's AUC would rest on fewer than 10 members.
MIN_ROWS = 10
# A categorical column with more distinct values than this, or than half the table's rows, is an id or free
# text, not a category: one-hot encoding it would add a feature per value, most of them for a single row.
MAX_CATEGORIES = 200
# A whole-number column that alone classifies this share of the rows (with two thresholds per class) is warned
# about as an id that leaks the label, as record numbers in a file sorted by outcome do.
PREDICTIVE_SHARE = 0.95
# Column names of identifiers: "id", "patient_id", "Record No", "row", "#"; and "patientId" (CAMEL_ID)
ID_NAME = re.compile(r"(?:^|[\W_])(?:id|ids|identifier|key|no|nr|num|number|index|idx|record|row)$|^#$", re.IGNORECASE)
CAMEL_ID = re.compile(r"[a-z]Id$")
SEPARATORS = ",;\t|"  # what csv.Sniffer may detect between a CSV file's fields
SNIFF_LINES = 50  # lines of a CSV file the separator is detected from
SNIFF_BYTES = 1 << 20  # bytes of a CSV file read at a time while its encoding is detected
EXCEL_SEPARATOR = re.compile(r"sep=(.)")  # the first line Excel may write to name the separator
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")  # the bytes Windows-1252 gives no character
# A number written as text with each decimal mark: thousands grouped by the other mark, an apostrophe (with
# '.') or a no-break space, e.g. "4,123.50", "4.123,50", "4\u202f123,5", "-.5", "3,5".
THOUSANDS = {".": "[,'\u00a0\u202f]", ",": "[.\u00a0\u202f]"}
NUMBER = {mark: rf"[+-]?(?:\d{{1,3}}(?:{THOUSANDS[mark]}\d{{3}})+(?:\{mark}\d+)?|\d+(?:\{mark}\d+)?|\{mark}\d+)"
          for mark in ".,"}


class DataError(ValueError):
    """The table or the forget request cannot be used; ``problems`` holds one sentence per problem, with its fix."""

    def __init__(self, problems):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Table:
    """A labelled table as read. Rows without a target value are left out; everything else is kept raw."""

    source: str  # the dataset parameter
    frame: pd.DataFrame  # every column, raw: for where: conditions and the description
    target: str
    numeric: list  # feature columns scaled as numbers
    categorical: list  # feature columns one-hot encoded
    dropped: dict  # columns left out of the features -> why: "drop_columns", "empty" or "dates"
    id_column: str  # "" when rows are identified by position
    ids: np.ndarray  # each row's id: its id_column value, or its position in the file counted from 0
    labels: np.ndarray  # each row's class index into class_names (int64)
    class_names: list  # the target's values as strings, in sorted order of the raw values
    n_unlabelled: int  # rows left out for a missing target value
    reading: dict = field(default_factory=dict)  # how it was read, for section 1: "read as", "missing values"
    notes: tuple = ()  # sentences for section 1: what was detected, merged or left out, and how to change it


@dataclass(frozen=True)
class ForgetRequest:
    """What to forget: ``kind`` is random, class, where or ids; ``rows`` the table positions it names (not random)."""

    kind: str
    argument: str  # the label, the condition or the ids file; "" for random
    rows: np.ndarray | None
    class_index: int | None  # the forgotten class, for kind "class"
    read: str = ""  # for kind "ids": what was read from the file; for "where": how dates were read


RANDOM = ForgetRequest("random", "", None, None)  # the seed's scenario


@dataclass(frozen=True)
class RowSplit:
    """Table positions of the retain, forget and test rows; ``stratified`` says whether the test draw was."""

    retain: np.ndarray
    forget: np.ndarray
    test: np.ndarray
    stratified: bool

    def items(self):
        return {"retain": self.retain, "forget": self.forget, "test": self.test}.items()


@dataclass(frozen=True)
class Description:
    """Section 1 of the report: headline facts, the columns, the class balance, the splits and notes on reading."""

    overview: pd.Series
    columns: pd.DataFrame
    classes: pd.DataFrame
    splits: pd.DataFrame
    notes: str  # Markdown: a list of what was detected, merged or left out ("" when nothing was)


def resolve(path):
    """An absolute path; a relative one is taken from the project root."""
    return (ROOT / Path(path).expanduser()).resolve()


def input_files(P):
    """The files parameters ``P`` read: a csv:/parquet: table and an ids: forget request, resolved."""
    kinds = [(P["dataset"], FILE_KINDS), (P["forget"], ["ids"])]
    return [resolve(value.split(":", 1)[1]) for value, prefixes in kinds if value.split(":", 1)[0] in prefixes]


def make_synthetic(*, n_samples, n_features, n_informative, n_redundant, n_classes, flip_y, seed):
    """The seed's ``make_classification`` table: (X, y) as numpy arrays."""
    return make_classification(n_samples=n_samples, n_features=n_features, n_informative=n_informative,
                               n_redundant=n_redundant, n_classes=n_classes, flip_y=flip_y, random_state=seed)


def from_arrays(X, y, source="arrays"):
    """A table of numeric features ``x0``, ``x1``, ... and integer labels ``y``, its features not copied."""
    frame = _numeric_frame(X, y)
    return _table(source, frame, "y", list(frame.columns[:-1]), [], {}, "", np.arange(len(frame)))


def _numeric_frame(X, y):
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])], copy=False)
    frame["y"] = y
    return frame


def read(P):
    """The table that parameters ``P`` name, its columns sorted by kind. Raises DataError listing every problem."""
    P = _named(P)
    raw, default_target, reading, notes = _read_raw(P)
    target, id_column = P["target"] or default_target, P["id_column"]
    notes += _label_notes(raw, target, P["normalize_labels"]) if target in raw else []
    if P["normalize_labels"] and target in raw:
        raw[target] = _merged_labels(raw[target])
    problems = _column_problems(raw, P["dataset"], target, P)
    if problems:
        raise DataError(problems)
    n_labelled = int(raw[target].notna().sum())
    if n_labelled < 3 * MIN_ROWS:
        raise DataError(f"dataset: only {n_labelled} rows have a value of {target!r}, too few to split: the retain, "
                        f"forget and test sets need {MIN_ROWS} rows each ({3 * MIN_ROWS} in all); use a larger table")
    dropped = _left_out(raw, target, P)
    features = [c for c in raw.columns if c not in {target, id_column, *dropped}]
    numeric = [c for c in features if c in P["numeric_columns"]
               or (c not in P["categorical_columns"] and _is_number(raw[c]))]
    categorical = [c for c in features if c not in numeric]
    problems = _feature_problems(raw, features, categorical)
    if problems:
        raise DataError(problems)
    notes += _kind_notes(raw, categorical, dropped, P) + _identifier_notes(raw, numeric, target)
    ids, id_notes = _row_ids(raw, id_column)
    return _table(P["dataset"], raw, target, numeric, categorical, dropped, id_column, ids, reading,
                  tuple(notes + id_notes))


def _row_ids(raw, id_column):
    """(each row's id, a note): its ``id_column`` value, whole numbers stored as floats (1.0) as integers, as an id
    list writes them; else its position counted from 0."""
    if not id_column:
        return np.arange(len(raw)), []
    ids = raw[id_column]
    if not pd.api.types.is_float_dtype(ids) or not ids.dropna().mod(1).eq(0).all():
        return ids.to_numpy(), []
    whole = ids.astype("Int64")
    return whole.astype(object).to_numpy(), [
        f"id_column {id_column!r} holds whole numbers stored as floats ({_examples(ids.dropna())}): they are compared "
        f"with an id list as integers ({_examples(whole.dropna())})"]


def _identifier_notes(raw, numeric, target):
    """Warnings on numeric features with a different whole number in every labelled row that look like row ids:
    named like one, rising or falling with the row order, or telling the label apart alone."""
    labelled = raw[raw[target].notna()]
    labels = pd.factorize(labelled[target])[0]
    notes = []
    for c in numeric:
        x = labelled[c]
        if x.isna().any() or not x.mod(1).eq(0).all() or x.nunique() < len(x):
            continue
        if x.is_monotonic_increasing or x.is_monotonic_decreasing:
            why = ("rises or falls with the row order, as a record number does: a model can learn the file's order "
                   "(in a file sorted by outcome, the label)")
        elif _separates(x.to_numpy(dtype=float), labels):
            why = "alone tells the labels apart, as numbers given out by outcome do"
        elif ID_NAME.search(str(c)) or CAMEL_ID.search(str(c)):
            why = "is named like an identifier"
        else:
            continue
        notes.append(f"warning: column {c!r} holds a different whole number in every row and {why}; it is scaled as a "
                     f"feature: if it identifies rows, list it in drop_columns (or set id_column: {c})")
    return notes


def _separates(x, labels):
    """Whether a few thresholds on ``x`` (a tree of two leaves per class) classify ``PREDICTIVE_SHARE`` of the rows
    right, and at least halve the errors of always guessing the most frequent label."""
    counts = np.bincount(labels)
    tree = DecisionTreeClassifier(max_leaf_nodes=2 * len(counts), random_state=0).fit(x.reshape(-1, 1), labels)
    share, majority = tree.score(x.reshape(-1, 1), labels), counts.max() / counts.sum()
    return share >= PREDICTIVE_SHARE and 1 - share <= (1 - majority) / 2


def _table(source, frame, target, numeric, categorical, dropped, id_column, ids, reading=None, notes=()):
    labelled = frame[target].notna().to_numpy()
    n_unlabelled = int(len(frame) - labelled.sum())
    if n_unlabelled:
        frame, ids = frame[labelled].reset_index(drop=True), ids[labelled]
    labels, values = pd.factorize(frame[target], sort=True)
    return Table(source, frame, target, numeric, categorical, dropped, id_column, ids, labels.astype(np.int64),
                 [str(v) for v in values], n_unlabelled, reading or {}, notes)


def features(table, positions):
    """The feature columns of the rows at ``positions``, ready for the encoder: declared-numeric columns as
    numbers, categorical ones as strings (missing values stay missing)."""
    columns = table.frame.columns.get_indexer(table.numeric + table.categorical)
    frame = table.frame.iloc[positions, columns]
    for c in table.numeric:
        if not _is_number(frame[c]):
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    for c in table.categorical:  # as text in an object column, missing as NaN: scikit-learn's imputer cannot test pd.NA
        values = frame[c] if pd.api.types.is_string_dtype(frame[c]) else frame[c].map(str, na_action="ignore")
        frame[c] = values.astype(object).where(frame[c].notna(), np.nan)
    return frame


def _read_raw(P):
    """(raw DataFrame, its default target column, how it was read, notes) for a bundled dataset or a csv:/parquet:
    file. A file's ``na_values`` are read as missing in every column, its trailing empty rows dropped and its
    numbers written as text ("4,123.50", "3,5", "45%") read as numbers."""
    source = P["dataset"]
    bundled = {"read as": f"the bundled {source} table", "missing values": "as the bundled table marks them"}
    if source == "synthetic":
        X, y = make_synthetic(n_samples=P["n_samples"], n_features=P["n_features"], n_informative=P["n_informative"],
                              n_redundant=P["n_redundant"], n_classes=P["n_classes"], flip_y=P["flip_y"],
                              seed=P["data_seed"])
        return _numeric_frame(X, y), "y", bundled, []
    if source == "breast_cancer":
        bunch = load_breast_cancer(as_frame=True)
        frame = bunch.frame.rename(columns={"target": "diagnosis"})
        frame["diagnosis"] = bunch.target_names[bunch.target.to_numpy()]
        return frame, "diagnosis", bundled, []
    if source == "penguins":
        from palmerpenguins import load_penguins

        return load_penguins(), "species", bundled, []
    kind, _, path = source.partition(":")
    if kind not in FILE_KINDS or not path:
        raise DataError(f"dataset: unknown {source!r}{_suggest(source, BUNDLED)}; use one of {BUNDLED}, "
                        "csv:<path> or parquet:<path>")
    path = resolve(path)
    _check_file(kind, path)
    frame, reading, notes, decimal = _read_csv(path, P) if kind == "csv" else _read_parquet(path, P)
    frame, reading["missing values"] = _read_missing(frame, P["na_values"], "empty cells" if kind == "csv" else "nulls")
    frame, dropped = _without_trailing_empty_rows(frame)
    if frame.empty:
        raise DataError(f"dataset: {path} has no data rows; name a file with a header row and data rows")
    if dropped:
        notes.append(f"{dropped} empty rows at the end of the file (no value in any column, as spreadsheets leave "
                     "rows of bare separators) were dropped")
    frame, read_as_numbers = _numbers_from_text(frame, P, decimal)
    return frame, "", reading, notes + read_as_numbers


def _check_file(kind, path):
    """Raise DataError unless ``path`` is a non-empty file of the ``kind`` (csv or parquet) it is named as."""
    where = "relative paths are read from the project root"
    if not path.exists():
        raise DataError(f"dataset: no file {path} ({where}, {ROOT}); check the path")
    if not path.is_file():
        raise DataError(f"dataset: {path} is a directory, not a file; name a .csv or .parquet file")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as error:
        raise DataError(f"dataset: cannot read {path}: {error.strerror}; check its permissions") from error
    if not head:
        raise DataError(f"dataset: {path} is empty; name a file with a header row and data rows")
    if kind == "csv" and head == b"PAR1":
        raise DataError(f"dataset: {path} is a Parquet file; use parquet:{path}")
    if kind == "parquet" and head != b"PAR1":
        raise DataError(f"dataset: {path} is not a Parquet file (no PAR1 header); for a CSV file use csv:{path}")


def _read_csv(path, P):
    """(table, how it was read, notes, decimal mark) of a CSV file, decompressed as its name says (.gz, .zip, .bz2, .xz, .zst):
    its encoding and separator given or detected, Excel's ``sep=`` first line skipped, its header names trimmed,
    in Unicode NFC and refused if repeated, only empty cells missing, ``id_column`` kept as text (``001000``), and
    decimal commas read as such when ``csv_decimal`` says so or the text shows it."""
    compression = infer_compression(str(path), "infer")
    encoding, encoded = _encoding(path, P["csv_encoding"], compression)
    try:
        lines = _first_lines(path, encoding, compression)
        excel = EXCEL_SEPARATOR.fullmatch(lines[0].strip()) if lines else None
        separator, how = _separator(lines[1 if excel else 0:], P["csv_separator"], excel)
        options = dict(sep=separator, encoding=encoding, compression=compression, skiprows=1 if excel else 0,
                       skipinitialspace=True, keep_default_na=False, na_values=[""], index_col=False)
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, **options).iloc[0].fillna("")
        names = [_nfc(name.strip()) or f"Unnamed: {i}" for i, name in enumerate(header)]
        _refuse_repeated(names, path)
        options["dtype"] = {raw: str for raw, name in zip(header, names) if name == P["id_column"]}
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # rows longer than the header
            frame = pd.read_csv(path, decimal=P["csv_decimal"] or ".", **options)
            frame.columns = names
            decimal, said = _decimal_mark(frame, P)
            if decimal != (P["csv_decimal"] or "."):  # a decimal comma detected: read the numbers again with it
                frame = pd.read_csv(path, decimal=decimal, **options)
                frame.columns = names
    except DataError:
        raise
    except pd.errors.ParserWarning as error:
        raise DataError(f"dataset: the rows of {path.name} hold more fields than its header names ({len(names)}), as "
                        "when each line ends in a separator; name every column in the header, or remove the extra "
                        "separators") from error
    except UnicodeDecodeError as error:
        raise DataError(f"dataset: {path} does not decode as {encoding} (csv_encoding): {error.reason} at byte "
                        f"{error.start}; set csv_encoding to the file's encoding, or to '' to detect it") from error
    except (ValueError, OSError, EOFError) as error:  # pandas' ParserError and EmptyDataError, a damaged archive
        raise DataError(f"dataset: cannot read {path} as CSV: {str(error).strip()}; export it as CSV again") from error
    packed = f", {compression}-compressed" if compression else ""
    notes = [f"{path.name} is not UTF-8: it was read as Windows-1252 text (cp1252, Excel's 'CSV' on Windows); if "
             "accented letters look wrong, set csv_encoding to its encoding"] if encoding == "cp1252" else []
    return frame, {"read as": f"CSV ({encoded}{packed}), fields separated by {how}", "decimal mark": said}, notes, decimal


def _encoding(path, given, compression, parameter="dataset"):
    """(codec, in words): ``given`` (csv_encoding), else a byte-order mark's (UTF-8, UTF-16), else UTF-8 when
    every byte decodes as UTF-8, else Windows-1252 when every byte decodes as that. Raises DataError, its sentence
    starting with ``parameter``, otherwise."""
    if given:
        return given, f"{given}, csv_encoding"
    try:
        with get_handle(path, "rb", compression=compression, is_text=False) as handles:
            head = handles.handle.read(SNIFF_BYTES)
            if head.startswith(codecs.BOM_UTF8):
                return "utf-8-sig", "UTF-8 with a byte-order mark"
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                return "utf-16", "UTF-16, byte-order mark"
            if b"\x00" in head:
                raise DataError(f"{parameter}: {path} holds zero bytes: it is UTF-16 text without a byte-order mark, or "
                                "not text; set csv_encoding (e.g. 'utf-16-le'), or export it as CSV UTF-8 or Parquet")
            utf8, cp1252, chunk = codecs.getincrementaldecoder("utf-8")(), True, head
            while chunk:
                cp1252 = cp1252 and not CP1252_UNDEFINED.search(chunk)
                if utf8 is not None:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = None
                chunk = handles.handle.read(SNIFF_BYTES)
    except (OSError, EOFError, ValueError) as error:  # a damaged or multi-file archive
        raise DataError(f"{parameter}: cannot decompress {path} as {compression} (from its name): {error}; check the "
                        "file, or name it without the compression suffix if it is plain text") from error
    if utf8 is not None:
        try:
            utf8.decode(b"", final=True)
            return "utf-8", "UTF-8"
        except UnicodeDecodeError:
            pass
    if cp1252:
        return "cp1252", "Windows-1252, detected: not UTF-8"
    raise DataError(f"{parameter}: {path} is neither text in UTF-8, UTF-16 or Windows-1252 nor Parquet; if it is text, "
                    "set csv_encoding to its encoding (e.g. 'latin-1'), else export it as CSV UTF-8 or Parquet")


def _first_lines(path, encoding, compression):
    """The first ``SNIFF_LINES`` lines of a CSV file, decoded."""
    with get_handle(path, "r", encoding=encoding, compression=compression) as handles:
        return [line for _, line in zip(range(SNIFF_LINES), handles.handle)]


def _separator(lines, given, excel=None):
    """(separator, how it was chosen): ``given``, else Excel's ``sep=`` line's (``excel``, a match), else what
    csv.Sniffer finds in ``lines``, else a comma."""
    skipped = ", Excel's sep= line skipped" if excel else ""
    if given:
        return given, f"{given!r} (csv_separator{skipped})"
    if excel:
        return excel.group(1), f"{excel.group(1)!r} (named by Excel's sep= first line, skipped)"
    try:
        found = csv.Sniffer().sniff("".join(lines), delimiters=SEPARATORS).delimiter
    except csv.Error:  # one column, or no separator used consistently
        return ",", "',' (no other detected)"
    return found, f"{found!r} (detected)"


def _decimal_mark(frame, P):
    """(mark, in words): ``csv_decimal``, else ',' when text values show a decimal comma ("3,5", "1.234,50") and
    none a decimal point ("4,123.50"), else '.'. Raises DataError when the values disagree or cannot tell."""
    if P["csv_decimal"]:
        return P["csv_decimal"], f"{P['csv_decimal']!r} (csv_decimal)"
    shown = {mark: [] for mark in ".,?"}
    for c in frame.columns:
        if c != P["id_column"] and _is_text(frame[c]):
            values = pd.Series(frame[c].dropna().unique()).astype(str).str.strip().str.removesuffix("%").str.strip()
            dot, comma = values.str.fullmatch(NUMBER["."]), values.str.fullmatch(NUMBER[","])
            marked = values.str.contains(r"[.,]")
            for mark, which in [(".", dot & ~comma), (",", comma & ~dot), ("?", dot & comma & marked)]:
                shown[mark] += [(c, v) for v in values[which][:1]]
    if shown["."] and shown[","]:
        raise DataError(f"dataset: numbers written as text use both decimal marks: {_shown(shown['.'])} and "
                        f"{_shown(shown[','])}; set csv_decimal to '.' or ',' (the other one is read as text)")
    if shown[","]:
        return ",", f"',' (detected: {_shown(shown[','])}; set csv_decimal: '.' if wrong)"
    if shown["?"] and not shown["."]:
        raise DataError(f"dataset: numbers written as text such as {_shown(shown['?'])} read as thousands with ',' "
                        "or '.' between them, or as decimals; set csv_decimal to the decimal mark, '.' or ','")
    return ".", "'.'"


def _shown(found):
    """Where a kind of value was found, in words: "'3,5' in 'price', '1,2' in 'rate'"."""
    return ", ".join(f"{value!r} in {column!r}" for column, value in found[:2])


def _read_parquet(path, P):
    """(table, how it was read, notes, decimal mark) of a Parquet file: names in Unicode NFC, refused if repeated; DECIMAL columns
    as floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        _refuse_repeated([_nfc(name) for name in schema.names], path)
        frame = pd.read_parquet(path)
    except DataError:
        raise
    except (ValueError, OSError) as error:  # pyarrow's ArrowInvalid
        raise DataError(f"dataset: cannot read {path} as PARQUET: {str(error).strip()}; "
                        "export it as PARQUET again") from error
    frame.columns = [_nfc(str(name)) for name in frame.columns]
    decimals = [_nfc(f.name) for f in schema if pa.types.is_decimal(f.type) and _nfc(f.name) in frame]
    frame[decimals] = frame[decimals].astype("float64")
    notes = [f"DECIMAL columns read as floating-point numbers: {', '.join(map(repr, decimals))}"] if decimals else []
    decimal, said = _decimal_mark(frame, P)
    return frame, {"read as": "Parquet", "decimal mark": said}, notes, decimal


def _refuse_repeated(names, path):
    """Raise DataError naming the column names that occur more than once (pandas would rename the copies)."""
    repeated = list(dict.fromkeys(n for n in names if names.count(n) > 1))
    if repeated:
        raise DataError(f"dataset: {path.name} has more than one column named {', '.join(map(repr, repeated))}; "
                        "rename or remove the copies (read as they are, a copy of the target would be a feature)")


def _read_missing(frame, na_values, empty):
    """(``frame`` with ``na_values`` missing in every column, section 1's sentence on what was read as missing).
    Text and category columns match the texts, number columns the texts that are numbers ('-999' matches -999.0),
    others (dates, booleans) their values as text."""
    if not na_values:
        return frame, f"{empty} only: 'NA', 'None' are values"
    numbers = pd.to_numeric(pd.Series(na_values, dtype=object), errors="coerce").dropna().unique()
    counts = {}
    for c in frame.columns:
        column = frame[c]
        if _is_number(column):
            hit = column.isin(numbers)
        elif _is_text(column):
            hit = column.isin(na_values)
        else:
            hit = column.notna() & column.astype(str).isin(na_values)
        if hit.any():
            frame[c], counts[c] = column.mask(hit), int(hit.sum())
    listed = ", ".join(map(repr, na_values))
    if not counts:
        return frame, f"{empty} and {listed} (na_values, found in no cell)"
    where = ", ".join(f"{c!r} {n:,}" for c, n in counts.items())
    return frame, f"{empty} and {listed} (na_values: {sum(counts.values()):,} cells, in {where})"


def _without_trailing_empty_rows(frame):
    """(``frame`` without the rows at its end that hold no value, how many were dropped)."""
    filled = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    kept = filled[-1] + 1 if len(filled) else 0
    return frame.iloc[:kept], len(frame) - kept


def _numbers_from_text(frame, P, decimal):
    """(``frame`` with its text columns whose every value is a number, as written with ``decimal``, thousands
    separators or a percent sign, read as numbers; a note naming them). The id column, the target and
    ``categorical_columns`` stay text. "45%" reads as 45."""
    kept = {P["id_column"], P["target"], *P["categorical_columns"]}
    read = []
    for c in frame.columns:
        if c in kept or not _is_text(frame[c]):
            continue
        text = frame[c].dropna().astype(str).str.strip()
        if text.empty or not text.str.fullmatch(rf"(?:{NUMBER[decimal]})\s?%?").all():
            continue
        plain = text.str.removesuffix("%").str.strip().str.replace(THOUSANDS[decimal], "", regex=True)
        numbers = pd.to_numeric(plain.str.replace(",", ".") if decimal == "," else plain)
        frame[c] = numbers.reindex(frame.index)
        formatted = text[~text.str.fullmatch(r"[+-]?\d+(?:\.\d+)?")]
        read.append(f"{c!r}" + (f" ({formatted.iloc[0]!r} → {numbers[formatted.index[0]]:g})" if len(formatted) else ""))
    if not read:
        return frame, []
    return frame, [f"text columns read as numbers (thousands separators and percent signs dropped, '45%' as 45): "
                   f"{', '.join(read)}; list a column in categorical_columns to keep it as text"]


def _nfc(name):
    """``name`` in Unicode NFC: an accent as one character, as Windows and Linux write it (macOS may not)."""
    return unicodedata.normalize("NFC", name)


def _named(P):
    """``P`` with the column names it gives (target, id_column, the column lists, the forget request) in NFC."""
    lists = {name: [_nfc(c) for c in P[name]] for name in ["categorical_columns", "numeric_columns", "drop_columns"]}
    return {**P, **lists, **{name: _nfc(P[name]) for name in ["target", "id_column", "forget"]}}


def _is_text(column):
    """Whether a column holds text: a string dtype, or categories that are strings."""
    return pd.api.types.is_string_dtype(column) or isinstance(column.dtype, pd.CategoricalDtype) and \
        pd.api.types.is_string_dtype(column.cat.categories)


def _label_notes(raw, target, normalize):
    """Sentences on target values that differ only in case or surrounding spaces: merged, or a warning."""
    groups = _spellings(raw[target])
    if not groups:
        return []
    listed = "; ".join(", ".join(map(repr, group)) for group in groups)
    if normalize:
        return [f"normalize_labels merged target values that differ only in case or spaces: {listed} "
                "(each group into its most frequent spelling, trimmed)"]
    return [f"target values that differ only in case or surrounding spaces are separate classes: {listed}; "
            "class: and where: match only the spelling given. If they mean one class, set normalize_labels: true"]


def _spellings(column):
    """Groups of a text column's values that differ only in case or surrounding spaces, most frequent first."""
    if _is_number(column):
        return []
    counts = column.dropna().astype(str).value_counts()
    keys = pd.Series(counts.index.str.strip().str.casefold(), index=counts.index)
    return [list(group.index) for _, group in keys.groupby(keys, sort=False) if len(group) > 1]


def _merged_labels(column):
    """``column`` with each group of ``_spellings`` replaced by its most frequent spelling, trimmed."""
    merged = {spelling: group[0].strip() for group in _spellings(column) for spelling in group}
    return column.replace(merged) if merged else column


def _left_out(raw, target, P):
    """Columns left out of the features, with why: listed in drop_columns, empty, or dates (unless listed)."""
    dropped = {c: "drop_columns" for c in P["drop_columns"]}
    listed = {*P["numeric_columns"], *P["categorical_columns"]}
    for c in raw.columns:
        if c in {target, P["id_column"], *dropped}:
            continue
        if raw[c].isna().all():
            dropped[c] = "empty"
        elif c not in listed and _looks_like_dates(raw[c]):
            dropped[c] = "dates"
    return dropped


def _looks_like_dates(column):
    """Whether a column holds dates or times: a datetime type, or text whose every value parses as one with a
    year (so "1st", "T1" or "10-12" do not count)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if _is_number(column) or pd.api.types.is_bool_dtype(column):
        return False
    values = pd.Series(column.dropna().unique()[:200]).astype(str)
    if not values.str.contains(r"\d").all() or pd.to_numeric(values, errors="coerce").notna().any():
        return False
    parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    return bool(parsed.notna().all() and (parsed.dt.year >= 1000).all())


def _feature_problems(raw, features, categorical):
    """Sentences for no feature left, or a categorical column with too many distinct values to one-hot encode."""
    if not features:
        return ["drop_columns: no feature column is left; drop fewer columns"]
    limit = min(MAX_CATEGORIES, len(raw) // 2)
    problems = []
    for c in categorical:
        n = raw[c].nunique()
        if n > limit:
            text = _stray_text(raw[c])
            hint = (f"it is mostly numbers: read its {text.sum()} other values (e.g. {_examples(text.index)}) as "
                    "missing with na_values, or list it in numeric_columns" if text is not None
                    else "else add it to drop_columns")
            problems.append(f"column {c!r} has {n} distinct values in {len(raw)} rows, too many to one-hot encode (at "
                            f"most {limit}: half the rows, and {MAX_CATEGORIES}); if it identifies rows set "
                            f"id_column: {c}; {hint}")
    return problems


def _stray_text(column):
    """How often each value that is not a number occurs, for a text column most of whose values are numbers;
    None for any other column."""
    counts = column.value_counts()
    text = counts[pd.to_numeric(counts.index.to_series(), errors="coerce").isna().to_numpy()]
    return text if 0 < text.sum() < counts.sum() / 2 else None


def _kind_notes(raw, categorical, dropped, P):
    """Sentences on the columns read differently from what their values suggest: mostly-numeric text encoded as
    categories, empty columns and dates left out."""
    notes = []
    for c in categorical:
        text = None if c in P["categorical_columns"] else _stray_text(raw[c])
        if text is not None:
            notes.append(f"column {c!r} is mostly numbers, but {text.sum()} values are not (e.g. "
                         f"{_examples(text.index)}), so it is one-hot encoded as categories; to scale it as numbers "
                         f"list it in numeric_columns and read those values as missing with na_values")
    for why, sentence in [("empty", "no value in any row"), ("dates", "dates or times; list them in categorical_columns "
                                                            "to one-hot encode them, or derive a number in the file")]:
        columns = [c for c, reason in dropped.items() if reason == why]
        if columns:
            notes.append(f"left out of the features: {', '.join(map(repr, columns))} ({sentence})")
    return notes


def _column_problems(raw, source, target, P):
    """Sentences for an absent or one-class target, unknown or conflicting column overrides, text in a column
    declared numeric, infinite numbers and a bad id column."""
    columns = list(raw.columns)
    listing = f"the table's columns are {columns}{_separator_hint(columns)}"
    if not target:
        return [f"target: name the label column of {source}; {listing}"]
    if target not in raw:
        return [f"target: no column {target!r}{_suggest(target, columns)}; {listing}"]
    problems = []
    n_classes = raw[target].nunique()
    if n_classes < 2:
        problems.append(f"target: column {target!r} has {n_classes} class(es); name a column with two or more classes")
    id_column = P["id_column"]
    overrides = {"categorical_columns": P["categorical_columns"], "numeric_columns": P["numeric_columns"],
                 "drop_columns": P["drop_columns"], "id_column": [id_column] if id_column else []}
    for name, listed in overrides.items():
        problems += [f"{name}: no column {c!r}{_suggest(c, columns)}; {listing}" for c in listed if c not in raw]
        if target in listed:
            problems.append(f"{name}: {target!r} is the target; leave it out")
    both = set(P["categorical_columns"]) & set(P["numeric_columns"])
    if both:
        problems.append(f"categorical_columns and numeric_columns both list {sorted(both)}; keep each in one")
    for c in P["numeric_columns"]:
        if c in raw and not _is_number(raw[c]):
            text = raw[c][raw[c].notna() & pd.to_numeric(raw[c], errors="coerce").isna()]
            if len(text):
                problems.append(f"numeric_columns: column {c!r} holds text, e.g. {_examples(text.unique())} "
                                f"({len(text)} such values); fix those values, read them as missing by listing them "
                                f"in na_values, or list {c!r} in categorical_columns")
    excluded = {target, id_column, *P["drop_columns"], *P["categorical_columns"]}
    for c in columns:
        if c not in excluded and _is_number(raw[c]):
            infinite = np.isinf(raw[c].to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                problems.append(f"column {c!r} holds {int(infinite.sum())} infinite values (row {int(infinite.argmax())}, "
                                "counted from 0); replace them with a number or leave them empty to be imputed")
    if id_column and id_column in raw:
        ids = raw.loc[raw[target].notna(), id_column]
        if ids.isna().any():
            problems.append(f"id_column: {int(ids.isna().sum())} rows with a target value have no {id_column!r}; "
                            "give every row an id")
        ids = ids.dropna()
        trimmed = ids.astype(str).str.strip()
        repeated = trimmed[trimmed.duplicated()].unique()
        if len(repeated):
            spellings = ids[trimmed.isin(repeated[:3])].unique()
            how = " (surrounding spaces trimmed, as an id list's ids are)" if len(spellings) > len(repeated[:3]) else ""
            problems.append(f"id_column: {len(repeated)} ids occur more than once in {id_column!r}{how}, "
                            f"e.g. {_examples(spellings)}; ids must be unique")
    return problems


def _separator_hint(columns):
    """For a table read as one column whose name holds another separator: how to name that separator."""
    found = [s for s in SEPARATORS if len(columns) == 1 and s in str(columns[0])]
    return f" (one column: the file looks {found[0]!r}-separated; set csv_separator: {found[0]!r})" if found else ""


def _is_number(column):
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def forget_request(table, P):
    """The rows the ``forget`` parameter names, checked. Raises DataError with the problem and its fix."""
    P = _named(P)
    kind, _, argument = P["forget"].partition(":")
    argument = argument.strip()
    if kind not in FORGET_KINDS or (kind == "random") != (argument == ""):
        raise DataError(f"forget: unknown {P['forget']!r}; use random, class:<label>, where:<condition> or ids:<path>")
    if kind == "random":
        return RANDOM
    if kind == "class":
        if argument not in table.class_names:
            raise DataError(f"forget: no class {argument!r} in {table.target!r}{_suggest(argument, table.class_names)}; "
                            f"its classes are {table.class_names}")
        index = table.class_names.index(argument)
        if len(table.class_names) < 3:
            raise DataError(f"forget: class forgetting needs three or more classes; with {table.class_names} the "
                            "retrained models would see a single class. Use a table with more classes, or "
                            "forget: where:<condition> or ids:<path>")
        return ForgetRequest("class", argument, np.flatnonzero(table.labels == index), index)
    if kind == "where":
        rows, read = _rows_where(table, argument)
        return ForgetRequest(kind, argument, rows, None, read)
    rows, read = _rows_listed(table, argument, P["drop_columns"])
    return ForgetRequest(kind, argument, rows, None, read)


def _rows_where(table, condition):
    """(positions of the rows matching a pandas query, how dates in it were read), its column names checked before
    it is evaluated, text columns of dates it names compared as dates."""
    columns = list(table.frame.columns)
    try:
        names = _condition_names(condition)
    except SyntaxError as error:
        raise DataError(f"forget: the condition {condition!r} is not a valid expression ({error.msg}); "
                        f"{_quoting_hint(condition, columns)}") from error
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise DataError([f"forget: the condition names {n!r}, which is not a column{_suggest(n, columns)}; "
                         f"the columns are {columns} (quote names with spaces in backticks)" for n in unknown])
    frame, query, dates, read = _as_dates(table.frame, names, condition)
    try:
        matches = frame.eval(query, engine="python", local_dict=dates)
    except Exception as error:  # pandas raises many kinds for a well-formed but ill-typed condition
        dated = f" ({read})" if read else ""
        raise DataError(f"forget: evaluating {condition!r} failed: {type(error).__name__}: {error}{dated}") from error
    if not isinstance(matches, pd.Series) or not pd.api.types.is_bool_dtype(matches):
        raise DataError(f"forget: {condition!r} is not true or false per row; write a comparison, e.g. age > 60")
    rows = np.flatnonzero(matches.fillna(False).to_numpy(dtype=bool))
    if len(rows) == 0:
        raise DataError(f"forget: {condition!r} matches no rows; loosen the condition")
    if len(rows) == len(table.frame):
        raise DataError(f"forget: {condition!r} matches all {len(rows)} rows, leaving nothing to retain; "
                        "narrow the condition")
    return rows, read


def _as_dates(frame, names, condition):
    """(frame, condition, local variables, what was read): the text columns of dates that ``condition`` names
    parsed in the one format all their values fit, and the texts it compares with them parsed in that format
    (as ``@`` variables), so that "visit < '15/02/2023'" compares dates, not text."""
    columns = [n for n in names if _is_text(frame[n]) and _looks_like_dates(frame[n])]
    if not columns:
        return frame, condition, {}, ""
    formats = {c: _date_format(frame[c], c) for c in columns}
    table_frame, frame = frame, frame.assign(**{c: pd.to_datetime(frame[c].astype(str).str.strip().where(frame[c].notna()), format=f)
                            for c, f in formats.items()})
    dates = {}
    for source, (text, column) in _compared_texts(condition, columns).items():
        name = f"_date_{len(dates)}"
        dates[name] = _parsed_date(text, column, formats[column], table_frame[column].dropna().iloc[0])
        condition = condition.replace(source, f"@{name}")
    read = "; ".join(f"{c!r} read as dates, {_date_order(f)} ({f})" for c, f in formats.items())
    return frame, condition, dates, read


def _date_format(column, name):
    """The one format all of a text column's dates fit: ISO 8601 when every value is, else the guesses for its
    values day-first and month-first that parse them all alike. Raises DataError when none or two differing fit."""
    values = pd.Series(column.dropna().astype(str).str.strip().unique())
    if pd.to_datetime(values, format="ISO8601", errors="coerce").notna().all():
        return "ISO8601"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a guess against the dayfirst asked for
        guesses = dict.fromkeys(f for v in values[:SNIFF_LINES] for dayfirst in (False, True)
                                if (f := guess_datetime_format(v, dayfirst=dayfirst)))
    fits = {f: parsed for f in guesses if (parsed := pd.to_datetime(values, format=f, errors="coerce")).notna().all()}
    if not fits:
        raise DataError(f"forget: the dates in {name!r} are not all in one format (e.g. {_examples(values)}); write "
                        "them in one format in the file, e.g. 2023-02-15, to compare them in a where: condition")
    first, *others = fits
    differing = [f for f in others if not fits[f].equals(fits[first])]
    if differing:
        raise DataError(f"forget: the dates in {name!r} read either as {first} or as {differing[0]} (no day above 12, "
                        f"e.g. {_examples(values)}), so a where: condition cannot compare them; write them as "
                        "YYYY-MM-DD in the file")
    return first


def _date_order(date_format):
    """A date format in words: year-first, day-first or month-first."""
    if date_format == "ISO8601" or date_format.startswith("%Y"):
        return "year-first"
    return "day-first" if date_format.find("%d") < date_format.find("%m") else "month-first"


def _parsed_date(text, column, date_format, example):
    """The date a condition's ``text`` names, read in its column's format or ISO 8601; DataError if neither fits."""
    for attempt in (date_format, "ISO8601"):
        date = pd.to_datetime(text.strip(), format=attempt, errors="coerce")
        if pd.notna(date):
            return date
    raise DataError(f"forget: the condition compares {text!r} with the dates in {column!r}, which read "
                    f"{_date_order(date_format)} ({date_format}, e.g. {example!r}); write it in that format "
                    "or as YYYY-MM-DD")


def _compared_texts(condition, columns):
    """{source text of a quoted literal: (its value, the column)} for each text the condition compares directly
    with one of ``columns``."""
    tree, quoted, source = _parsed_condition(condition)
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            named = [quoted.get(o.id, o.id) for o in operands if isinstance(o, ast.Name)]
            dated = [n for n in named if n in columns]
            for o in operands:
                if dated and isinstance(o, ast.Constant) and isinstance(o.value, str):
                    found[ast.get_source_segment(source, o)] = (o.value, dated[0])
    return found


def _quoting_hint(condition, columns):
    """How to fix a condition that does not parse: the column names it holds bare that are not Python names
    (keywords, names with spaces), and the condition with them quoted in backticks."""
    bare = [c for c in sorted(map(str, columns), key=len, reverse=True) if keyword.iskeyword(c) or not c.isidentifier()]
    found, quoted = [], condition
    for c in bare:
        pattern = rf"(?<![\w`]){re.escape(c)}(?![\w`])"
        if re.search(pattern, quoted):
            found.append(f"{c!r} is a Python keyword" if keyword.iskeyword(c) else f"{c!r} is not a Python name")
            quoted = re.sub(pattern, f"`{c}`", quoted)
    if found:
        return f"{'; '.join(found)}: quote it in backticks, as in where:{quoted}"
    return ("write it as in DataFrame.query, e.g. where:age > 60 and sex == \"female\", with column names that are "
            "not Python names in backticks (`monthly income` > 1000)")


def _parsed_condition(condition):
    """(syntax tree, {placeholder: backticked name}, the source parsed): a pandas query parsed as Python, each
    `backticked` name replaced by a placeholder name."""
    quoted = {}

    def placeholder(match):
        quoted[f"_quoted_{len(quoted)}"] = match.group(1)
        return f"_quoted_{len(quoted) - 1}"

    source = re.sub(r"`([^`]*)`", placeholder, condition)
    return ast.parse(source, mode="eval"), quoted, source


def _condition_names(condition):
    """Column names a pandas query refers to: bare names and `backticked` ones, not the functions it calls."""
    tree, quoted, _ = _parsed_condition(condition)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    names = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called]
    return list(dict.fromkeys(quoted.get(n, n) for n in names))


def _rows_listed(table, path_text, drop_columns):
    """(positions of the rows whose ids an ids file lists, what was read from it), the ids compared as text.
    Without ``id_column`` the ids are row positions, refused while a column not in ``drop_columns`` looks like
    the ids the user meant."""
    path = resolve(path_text)
    id_like = [] if table.id_column else _id_like_columns(table, drop_columns)
    if id_like:
        c = id_like[0]
        raise DataError(f"forget: the table has a column of row ids, {c!r} (a different value in every row), but "
                        f"id_column is not set, so the ids in {path.name} would be read as row positions counted "
                        f"from 0; set id_column: {c} to forget the rows with those ids, or, if {path.name} lists row "
                        f"positions, list {c!r} in drop_columns")
    listed = read_ids(path, table.id_column)
    wanted = listed.ids
    id_name = f"column {table.id_column!r}" if table.id_column else "the row positions (no id_column set)"
    problems = []
    repeated = wanted[wanted.duplicated()].unique()
    if len(repeated):
        problems.append(f"forget: {path.name} lists {len(repeated)} ids more than once, e.g. {_examples(repeated)}; "
                        "list each id once")
    known = pd.Index(pd.Series(table.ids).astype(str).str.strip())
    positions = known.get_indexer(wanted.drop_duplicates())
    missing = wanted.drop_duplicates()[positions < 0]
    if len(missing):
        unlabelled = f" ({table.n_unlabelled} rows without a target value are left out)" if table.n_unlabelled else ""
        header = (f" The first line, {wanted.iloc[0]!r}, was read as an id: a header line must be the id column's "
                  f"name, {table.id_column!r}, or be removed." if not listed.header and missing.iloc[0] == wanted.iloc[0]
                  else "")
        problems.append(f"forget: {len(missing)} of the {wanted.nunique()} ids in {path.name} are not in {id_name} "
                        f"(compared as text, as written), e.g. {_examples(missing)}{unlabelled}; the table's ids read "
                        f"{_examples(known)}; remove them or fix id_column.{header}")
    if problems:
        raise DataError(problems)
    return np.sort(positions), listed.read


def _id_like_columns(table, drop_columns):
    """Columns with a different value in every row, none missing, that are named like ids or count rows (whole
    numbers running from their least without a gap); the target and ``drop_columns`` aside."""
    found = []
    for c in table.frame.columns:
        column = table.frame[c]
        if c == table.target or c in drop_columns or column.isna().any() or column.nunique() < len(column):
            continue
        counting = _is_number(column) and column.mod(1).eq(0).all() and column.max() - column.min() == len(column) - 1
        if counting or ID_NAME.search(str(c)) or CAMEL_ID.search(str(c)):
            found.append(c)
    return found


@dataclass(frozen=True)
class IdList:
    """The ids an ids file lists, as text in file order; whether it had a header line; what was read, in words."""

    ids: pd.Series
    header: bool
    read: str


def read_ids(path, id_column):
    """The ids a deletion request lists. Every non-blank line holds an id unless the first line is the name of
    ``id_column``, the header. A ``.csv`` file may have more columns when that header names the id column; any
    other file holds one id per line. The ids read must be as many as the non-blank lines."""
    if not path.is_file():
        raise DataError(f"forget: no ids file {path} (relative paths are read from the project root, {ROOT})")
    try:
        encoding, _ = _encoding(path, "", None, "forget")
        text = path.read_bytes().decode(encoding)
        if path.suffix.lower() == ".csv":
            cells = pd.read_csv(io.StringIO(text), header=None, sep=_separator(text.splitlines(keepends=True)[:SNIFF_LINES], "")[0],
                                dtype=str, keep_default_na=False)
        else:
            cells = pd.DataFrame({0: text.splitlines()}, dtype=object)
    except (UnicodeDecodeError, ValueError, OSError) as error:
        raise DataError(f"forget: cannot read {path} as a CSV or text file of ids: {error}") from error
    cells = cells.fillna("").apply(lambda column: column.str.strip())
    cells = cells[cells.ne("").any(axis=1)]
    if cells.empty:
        raise DataError(f"forget: {path} lists no ids; list one id per line")
    header = bool(id_column) and id_column in cells.iloc[0].tolist()
    if header:
        ids = cells.iloc[1:, cells.iloc[0].tolist().index(id_column)]
    elif cells.shape[1] == 1:
        ids = cells.iloc[:, 0]
    else:
        raise DataError(f"forget: {path.name} has {cells.shape[1]} columns and no header line naming the id column "
                        f"{id_column or '(id_column is not set)'}; keep a single column of ids, or start the file "
                        "with a header line that names the id column as in the table, and set id_column")
    ids = ids[ids != ""].reset_index(drop=True)
    lines = sum(1 for line in text.splitlines() if line.strip()) - header
    if len(ids) != lines:
        raise DataError(f"forget: read {len(ids)} ids from the {lines} non-blank lines of {path.name}"
                        f"{' after its header' if header else ''}: some lines hold no id, or a quoted id spans "
                        "lines; give each line one id")
    if ids.empty:
        raise DataError(f"forget: {path} lists no ids; list one id per line")
    after = f"after a header line {id_column!r}" if header else "no header line"
    return IdList(ids, header, f"{len(ids)} ids read from {lines} lines of {path.name}, {after}")


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


def scenario(table, request, rows):
    """Markdown for the report: what is forgotten, how the test set was drawn, and how to read the metrics."""
    n_forget, n_test = len(rows.forget), len(rows.test)
    drawn = "stratified by class" if rows.stratified else "not stratified (a class has too few rows)"
    if request.kind == "random":
        return (f"Forget a random {n_forget} of the {n_forget + len(rows.retain)} training rows, {drawn}; the "
                f"{n_test} test rows are drawn first from the whole table. Forget and test rows come from one "
                "distribution, so a model that forgot well scores on the forget rows about as on the test rows.")
    if request.kind == "class":
        held_out = int(np.sum(table.labels[rows.test] == request.class_index))
        return (f"Forget the whole class {_code(request.argument)}: all {n_forget} of its training rows. The retrained "
                f"models never see it and score about 0 % on these rows, so good forgetting means a forget "
                f"accuracy near 0 %, not near the test accuracy; read every metric against retrain's. The {n_test} "
                f"test rows, {drawn}, keep the class's share ({held_out} rows, never trained on): retrain "
                "misclassifies those too, so its test accuracy sits about that share below the original's.")
    if request.kind == "where":
        what = f"the {n_forget} rows where {_code(request.argument)}" + (f" ({request.read})" if request.read else "")
    else:
        by = f"values of {_code(table.id_column)}" if table.id_column else "row positions"
        what = f"the {n_forget} rows listed in {_code(Path(request.argument).name)}, by {by} ({request.read})"
    return (f"Forget {what}. The {n_test} test rows are drawn from the other rows, {drawn}, so the forget rows "
            "may differ from the test rows in kind (a category seen only in forget rows is unknown to the encoder, "
            "fit on the retain rows): compare each method with retrain, not with test accuracy.")


def _code(text):
    """``text`` as a Markdown code span, fenced with more backticks than it holds in a row (CommonMark)."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"{fence}{text}{fence}"


def describe(table, rows, n_encoded):
    """Section 1: headline facts (how the table was read among them), each column, the class balance per split,
    each split, and the notes on what was detected, merged or left out."""
    frame = table.frame
    isna = frame.isna()
    missing, row_missing = isna.sum(), isna.any(axis=1).to_numpy()
    overview = pd.Series({
        "source": table.source, "rows": len(frame), "rows left out (no target value)": table.n_unlabelled,
        "numeric features": len(table.numeric), "categorical features": len(table.categorical),
        "features after encoding": n_encoded,
        "dropped columns": ", ".join(f"{c} ({why})" for c, why in table.dropped.items()) or "none",
        "row ids": table.id_column or "row positions", "target": table.target, "classes": len(table.class_names),
        **table.reading, "missing cells": f"{int(missing.sum()):,} ({missing.sum() / max(frame.size, 1):.1%})",
    }, name=table.source, dtype=object)
    role = {table.target: "target", table.id_column: "id", **{c: "numeric" for c in table.numeric},
            **{c: "categorical" for c in table.categorical},
            **{c: "dropped" if why == "drop_columns" else f"dropped ({why})" for c, why in table.dropped.items()}}
    columns = pd.DataFrame({
        "kind": [role.get(c, "dropped") for c in frame.columns],
        "dtype": frame.dtypes.astype(str),
        "missing": missing,
        "missing %": (100 * missing / max(len(frame), 1)).round(1),
        "distinct": [frame[c].nunique() if role.get(c) in ("categorical", "target") else pd.NA for c in frame.columns],
    })
    counts = {name: np.bincount(table.labels[positions], minlength=len(table.class_names))
              for name, positions in [("table", slice(None)), *rows.items()]}
    classes = pd.DataFrame(counts, index=pd.Index(table.class_names, name=table.target))
    classes.insert(1, "table %", (100 * classes["table"] / classes["table"].sum()).round(1))
    splits = pd.DataFrame.from_dict({
        name: {"rows": len(positions), "% of table": round(100 * len(positions) / len(frame), 1),
               "rows with a missing value": int(row_missing[positions].sum()),
               "classes present": int(np.count_nonzero(np.bincount(table.labels[positions])))}
        for name, positions in rows.items()}, orient="index")
    unfit = unfit_columns(table, rows)
    notes = [*table.notes, *([f"left out of the encoded features: {', '.join(map(repr, unfit))} (no value in the "
                              "retain rows, which the encoder is fit on)"] if unfit else [])]
    notes = "".join(f"\n- {note}" for note in notes)
    return Description(overview, columns, classes, splits, notes and "Notes on reading the table:\n" + notes)


def _examples(values, k=3):
    return ", ".join(repr(v) for v in np.asarray(values)[:k].tolist())


def _suggest(name, valid):
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
