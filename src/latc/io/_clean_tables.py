"""Read back what ``latc validate`` wrote: the clean typed tables, the eligibility table, the data cut."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from latc.io._spreadsheet import restore_formulas

__all__ = ["read_clean_tables"]


def read_clean_tables(folder: str | Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None, str | None]:
    """Read a validation output folder: ``clean/<form>.parquet``, ``eligibility.csv``, ``summary.json``.

    Returns ``(clean, eligibility, data_cut)`` (``eligibility`` / ``data_cut`` None when absent).
    Raises ``FileNotFoundError`` when ``folder/clean`` has no Parquet table.
    """
    folder = Path(folder)
    files = sorted((folder / "clean").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{folder}: no clean/*.parquet tables (not a `latc validate` output folder)")
    clean = {f.stem: pd.read_parquet(f) for f in files}
    elig_path = folder / "eligibility.csv"
    eligibility = pd.read_csv(elig_path, dtype="str", keep_default_na=False, na_values=[""]) if elig_path.exists() else None
    if eligibility is not None:  # the CSV is spreadsheet-safe ('-prefixed formulas)
        eligibility = restore_formulas(eligibility)
    data_cut = None
    summary = folder / "summary.json"
    if summary.exists():
        data_cut = json.loads(summary.read_text(encoding="utf-8")).get("data_cut") or None
    return clean, eligibility, data_cut
