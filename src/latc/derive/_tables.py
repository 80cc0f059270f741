"""The study tables a derivation takes: one mapping, form name → clean typed table.

Study-level derivations take ``tables: Mapping[str, pd.DataFrame]`` first (the clean tables of
``latc validate``, ``ValidationResult.clean``, a ``latc.io.Study`` or a plain dict) and every option
keyword-only: ``surgical_outcomes(tables, permanence_months=6)``, as ``derive_tte(tables, data_cut)``.
:func:`study_tables` picks the forms a derivation reads out of that mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from latc.errors import LatcError

__all__ = ["DeriveInputError", "study_tables"]


class DeriveInputError(LatcError, ValueError):
    """A derivation was called without a study table it needs (a call error, not a data problem)."""


def study_tables(tables: Mapping[str, pd.DataFrame] | Any, required: Sequence[str], optional: Sequence[str] = (), *,
                 caller: str) -> tuple[pd.DataFrame | None, ...]:
    """The tables ``required`` then ``optional`` of ``tables``, in that order.

    ``tables`` is a mapping form name → DataFrame or an object with such a mapping as ``.tables``
    (``latc.io.Study``). An optional table that is absent or ``None`` comes back as ``None`` (the
    derivation leaves the columns that need it missing); a required one that is absent or ``None``
    raises :class:`DeriveInputError` naming ``caller`` and every missing form.
    """
    if not isinstance(tables, Mapping) and isinstance(getattr(tables, "tables", None), Mapping):
        tables = tables.tables
    if not isinstance(tables, Mapping):
        raise DeriveInputError(f"{caller}(): tables must be a mapping form name → DataFrame "
                               f"(e.g. ValidationResult.clean); got {type(tables).__name__}")
    missing = [name for name in required if tables.get(name) is None]
    if missing:
        needs = ", ".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
        raise DeriveInputError(f"{caller}(): no {', '.join(missing)} table in tables; it needs {needs}")
    return tuple(tables.get(name) for name in (*required, *optional))
