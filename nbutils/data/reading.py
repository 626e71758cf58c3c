"""Reading a table: a bundled one, or a CSV or Parquet file as real exports write it (encoding, compression,
separator, decimal commas, numbers written as text), checked against the parameters that name its columns."""

import codecs
import csv
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.common import get_handle, infer_compression
from sklearn.datasets import load_breast_cancer, make_classification

from nbutils import ROOT
from nbutils.data.column_kinds import (
    _feature_problems,
    _identifier_notes,
    _is_number,
    _is_text,
    _kind_notes,
    _label_notes,
    _left_out,
    _merged_labels,
)
from nbutils.data.refusals import MIN_ROWS, DataError, _examples, _suggest

BUNDLED = ["synthetic", "breast_cancer", "penguins"]
FILE_KINDS = ["csv", "parquet"]
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


def _table(source, frame, target, numeric, categorical, dropped, id_column, ids, reading=None, notes=()):
    labelled = frame[target].notna().to_numpy()
    n_unlabelled = int(len(frame) - labelled.sum())
    if n_unlabelled:
        frame, ids = frame[labelled].reset_index(drop=True), ids[labelled]
    labels, values = pd.factorize(frame[target], sort=True)
    return Table(source, frame, target, numeric, categorical, dropped, id_column, ids, labels.astype(np.int64),
                 [str(v) for v in values], n_unlabelled, reading or {}, notes)


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
