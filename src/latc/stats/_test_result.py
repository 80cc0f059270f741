"""One small result type for a statistical test, as R's ``htest``: statistic, degrees of freedom,
p-value and the method's name — and, where the test has one, its detail table (per group, per
cause) kept apart from the test's numbers instead of repeated on every row.

``logrank`` and the federated ``combine_logrank`` return it. For one release a :class:`TestResult`
still answers the DataFrame calls of the table these functions used to return (``lr["p"].iloc[0]``,
``lr.loc[…]``, ``lr.attrs["method"]``) with a ``DeprecationWarning`` naming the new spelling;
:meth:`TestResult.to_frame` gives that table on purpose.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["TestResult"]


@dataclass(frozen=True)
class TestResult:
    """A test's result (R ``htest``): ``statistic`` (``statistic_name``: "chisq" for χ² tests),
    ``df``, ``p``, ``method``; ``table``: the detail per group (or None)."""

    __test__ = False  # not a pytest test class, whatever its name

    statistic: float
    df: float
    p: float
    method: str
    statistic_name: str = "chisq"
    table: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        """The detail table with the test's statistic, df and p on every row (one row when there is
        no table) — the layout the analysis writes and these functions returned before."""
        base = self.table.copy() if self.table is not None else pd.DataFrame(index=[0])
        out = base.assign(**{self.statistic_name: self.statistic, "df": self.df, "p": self.p})
        out.attrs["method"] = self.method
        return out

    # -- one release of the old DataFrame return value -----------------------------------------------
    def _legacy(self, what: str) -> pd.DataFrame:
        warnings.warn(f"this test now returns a latc.stats.TestResult: {what} on it is deprecated; use "
                      ".statistic, .df, .p, .method, .table (the per-group rows) or .to_frame()",
                      DeprecationWarning, stacklevel=3)
        return self.to_frame()

    def __getitem__(self, key):
        return self._legacy(f"[{key!r}]")[key]

    def __getattr__(self, name: str):
        # private and protocol names (IPython's _repr_html_, copy's __deepcopy__, …) are the result's
        # own: a notebook shows the TestResult, not the old table
        if name.startswith("_") or name in ("table", "statistic", "df", "p", "method", "statistic_name"):
            raise AttributeError(name)
        return getattr(self._legacy(f".{name}"), name)

    def __len__(self) -> int:  # len(old_table) > 0 was the usual "is there a test" check
        return len(self.table) if self.table is not None else 1
