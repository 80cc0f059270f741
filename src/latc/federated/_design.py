"""A shared design matrix: the coordinator fixes the categorical levels, every site codes alike.

Round ``design_levels``: each site sends, per covariate, whether it is numeric or categorical, the
levels present at the site (not their counts) and, for a pandas Categorical, its declared category
order. ``combine_levels`` returns the pooled coding — the levels present anywhere, ordered as
:func:`latc.stats.cox` / :func:`latc.stats.propensity` order them on the pooled rows (the declared
order of a Categorical, else sorted) — and ``site_design`` builds the treatment-contrast matrix with
the column names of :func:`latc.stats.cox` (``cov[level]``) or of ``propensity``'s design
(``(Intercept)``, ``covlevel``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import as_text, site_rows

__all__ = ["site_levels", "combine_levels", "site_design"]

_DEFAULT = DisclosurePolicy()


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def site_levels(df: pd.DataFrame, covariates: Sequence[str], *, site: str,
                policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Payload: covariates, kinds{cov: numeric|categorical}, levels{cov: [present]},
    categories{cov: declared order or None}, two_values{numeric cov: its distinct values when there
    are at most two (e.g. [0, 1]), else None}."""
    covariates = list(covariates)
    site_rows(df, site, policy, "design_levels", covariates)
    kinds, levels, cats, two = {}, {}, {}, {}
    for c in covariates:
        s = df[c]
        if s.isna().any():
            raise FederatedInputError(f"site {site!r}: covariate '{c}' has missing values")
        if _is_categorical(s):
            kinds[c] = "categorical"
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats[c] = [str(x) for x in s.cat.categories]
            else:
                cats[c] = None
            levels[c] = sorted({str(x) for x in s})
        else:
            kinds[c] = "numeric"
            levels[c] = None
            cats[c] = None
            u = np.unique(pd.to_numeric(s).to_numpy(dtype=float))
            two[c] = u.tolist() if len(u) <= 2 else None        # a 0/1-type covariate (balance tables)
    return Message("design_levels", site, "levels", {"covariates": covariates, "kinds": kinds,
                                                     "levels": levels, "categories": cats,
                                                     "two_values": two})


def combine_levels(messages: Sequence[Message]) -> dict[str, list[str] | None]:
    """{covariate: pooled levels (reference first) or None for a numeric covariate}."""
    msgs = check_messages(messages, "design_levels")
    covs = msgs[0].payload["covariates"]
    out: dict[str, list[str] | None] = {}
    for c in covs:
        kinds = {m.payload["kinds"][c] for m in msgs}
        if len(kinds) > 1:
            raise FederatedInputError(f"covariate '{c}' is numeric at some sites and categorical at others")
        if kinds == {"numeric"}:
            out[c] = None
            continue
        present = set().union(*(m.payload["levels"][c] for m in msgs))
        declared = [m.payload["categories"][c] for m in msgs]
        if all(d is not None for d in declared) and all(d == declared[0] for d in declared):
            out[c] = [x for x in declared[0] if x in present]
        else:
            out[c] = sorted(present)
        if len(out[c]) < 2:
            raise FederatedInputError(f"covariate '{c}' has a single level ({out[c]}) in the pooled data")
    return out


def site_design(df: pd.DataFrame, covariates: Sequence[str], levels: dict, *, style: str = "cox",
                site: str = "") -> tuple[np.ndarray, list[str]]:
    """Site-local model matrix with the pooled coding (``style`` "cox": no intercept, ``cov[lev]``;
    "glm": intercept first, ``covlev``)."""
    cols, names = [], []
    if style == "glm":
        cols.append(np.ones(len(df)))
        names.append("(Intercept)")
    for c in covariates:
        lev = levels[c]
        if lev is None:
            cols.append(pd.to_numeric(df[c]).astype("Float64").to_numpy(dtype=float, na_value=np.nan))
            names.append(c)
        else:
            v = as_text(df[c])
            unknown = sorted(set(v) - set(lev))
            if unknown:
                raise FederatedInputError(f"site {site!r}: covariate '{c}' has levels {unknown} not in the "
                                          "announced coding")
            for x in lev[1:]:
                cols.append((v == x).astype(float))
                names.append(f"{c}[{x}]" if style == "cox" else f"{c}{x}")
    X = np.column_stack(cols) if cols else np.empty((len(df), 0))
    if np.isnan(X).any():
        raise FederatedInputError(f"site {site!r}: missing covariate values")
    return X, names
