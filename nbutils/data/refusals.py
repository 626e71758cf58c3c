"""How the data are refused: ``DataError``, one sentence per problem with its fix; the fewest rows a set
may hold; how those sentences show values and close names."""

import difflib

import numpy as np

# Fewer forget, retain or test rows than this are refused: one row would move an accuracy by more than
# 10 points, and the loss attack's AUC would rest on fewer than 10 members.
MIN_ROWS = 10


class DataError(ValueError):
    """The table or the forget request cannot be used; ``problems`` holds one sentence per problem, with its fix."""

    def __init__(self, problems):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def _examples(values, k=3):
    return ", ".join(repr(v) for v in np.asarray(values)[:k].tolist())


def _suggest(name, valid):
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
