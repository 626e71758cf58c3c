"""The rows a forget request names: ``random``, ``class:LABEL``, ``where:CONDITION`` (dates compared as dates)
or ``ids:PATH`` (an id list, its ids compared as text)."""

import ast
import io
import keyword
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from nbutils import ROOT
from nbutils.data.column_kinds import CAMEL_ID, ID_NAME, _is_number, _is_text, _looks_like_dates
from nbutils.data.reading import SNIFF_LINES, _encoding, _named, _separator, resolve
from nbutils.data.refusals import DataError, _examples, _suggest

FORGET_KINDS = ["random", "class", "where", "ids"]


@dataclass(frozen=True)
class ForgetRequest:
    """What to forget: ``kind`` is random, class, where or ids; ``rows`` the table positions it names (not random)."""

    kind: str
    argument: str  # the label, the condition or the ids file; "" for random
    rows: np.ndarray | None
    class_index: int | None  # the forgotten class, for kind "class"
    read: str = ""  # for kind "ids": what was read from the file; for "where": how dates were read


RANDOM = ForgetRequest("random", "", None, None)  # the seed's scenario


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
