"""Reading per-sample feature tables (one file per modality) for the integration layer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from latc.omics._manifest import OmicsInputError

#: File types read as feature tables.
FEATURE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".tsv")


def _read_one(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    except Exception as exc:  # unreadable input: one line naming the file
        raise OmicsInputError(f"{path}: cannot read feature table ({type(exc).__name__}: {exc})") from None


def read_feature_tables(paths: Sequence[str | Path]) -> dict[str, pd.DataFrame]:
    """Modality name → feature table, from files and/or folders (every ``.parquet/.csv/.tsv``
    inside, not recursive). The modality is the file stem (``bulk_scores.parquet`` →
    ``bulk_scores``); ``name=path`` sets it explicitly.

    Raises :class:`OmicsInputError` for a missing path, an empty folder, an unreadable file or two
    files with the same modality name.
    """
    out: dict[str, pd.DataFrame] = {}
    for item in paths:
        name, _, raw = str(item).rpartition("=") if "=" in str(item) else ("", "", str(item))
        p = Path(raw)
        if not p.exists():
            raise OmicsInputError(f"feature file or folder not found: {p}")
        files = sorted(f for f in p.iterdir() if f.suffix in FEATURE_SUFFIXES) if p.is_dir() else [p]
        if not files:
            raise OmicsInputError(f"{p}: no {'/'.join(FEATURE_SUFFIXES)} feature tables in the folder")
        for f in files:
            if f.suffix not in FEATURE_SUFFIXES:
                raise OmicsInputError(f"{f}: not a feature table (expected {', '.join(FEATURE_SUFFIXES)})")
            mod = name or f.stem
            if mod in out:
                raise OmicsInputError(f"{f}: a second feature table for modality {mod!r}")
            out[mod] = _read_one(f)
    return out
