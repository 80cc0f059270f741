"""Site-side guards and the split of a pooled (synthetic) dataset into sites.

Every ``site_*`` function calls :func:`site_rows`, which refuses a frame holding rows of more than one
site (by ``center_id``): a site function never sees another site's rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._disclosure import DisclosurePolicy, FederatedInputError

__all__ = ["SITE_COLUMN", "as_text", "derived_by_site", "site_rows", "split_by_site"]

SITE_COLUMN = "center_id"


def site_rows(df: pd.DataFrame, site: str, policy: DisclosurePolicy, analysis: str,
              columns=(), site_column: str = SITE_COLUMN) -> pd.DataFrame:
    """Check the allow-list, the columns and that ``df`` holds only ``site``'s rows; return ``df``."""
    policy.require_allowed(analysis, site)
    if not isinstance(df, pd.DataFrame):
        raise FederatedInputError(f"site {site!r}: expected a DataFrame, got {type(df).__name__}")
    absent = [c for c in columns if c is not None and c not in df.columns]
    if absent:
        raise FederatedInputError(f"site {site!r}, {analysis}: column(s) {absent} not found")
    if site_column in df.columns:
        seen = sorted({str(x) for x in pd.unique(df[site_column].dropna())})
        if seen and seen != [str(site)]:
            raise FederatedInputError(f"site {site!r}, {analysis}: the data holds rows of site(s) "
                                      f"{[s for s in seen if s != str(site)]}; a site analyses only its own rows")
    return df


def as_text(s: pd.Series) -> np.ndarray:
    """``s.astype(str)`` as a NumPy object array, converting each distinct value once (pandas 3's
    ``astype(str)`` gives an Arrow-backed column whose values are read one by one)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    text = np.array([str(u) for u in uniques] + ["nan"], dtype=object)
    return text[codes]                                   # code −1 (missing) → the last entry, "nan"


def derived_by_site(tables: dict[str, pd.DataFrame | None], site_column: str = SITE_COLUMN
                    ) -> dict[str, dict[str, pd.DataFrame | None]]:
    """{site: that site's derived datasets}: each dataset's rows of the patients whose ``subject``
    row names the site (datasets without ``patient_id`` are kept whole). For the demo, the tests
    and the benchmark; a deployment has each part at its site."""
    subj = tables["subject"]
    assert subj is not None
    out = {}
    for c in sorted(subj[site_column].astype(str).unique()):
        ids = set(subj.loc[subj[site_column].astype(str) == c, "patient_id"].astype(str))
        out[c] = {n: (t[t["patient_id"].astype(str).isin(ids)].reset_index(drop=True)
                      if t is not None and "patient_id" in t.columns else t) for n, t in tables.items()}
    return out


def split_by_site(df: pd.DataFrame, site_column: str = SITE_COLUMN) -> dict[str, pd.DataFrame]:
    """{site: that site's rows} (for the demo and tests; a deployment has each part at its site)."""
    return {str(k): g.copy() for k, g in df.groupby(df[site_column].astype(str), sort=True)}
