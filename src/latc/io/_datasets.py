"""Write the analysis datasets of ``latc derive`` to a folder (Parquet + R-readable CSV + metadata).

The writer knows the datasets only through :class:`DatasetBundle` (what
:class:`latc.derive.datasets.DerivedDatasets` provides), so ``latc.io`` does not import
``latc.derive``: stages flow one way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from latc.io._table_csv import write_table_csv

__all__ = ["DatasetBundle", "write_datasets"]


class DatasetBundle(Protocol):
    """The analysis datasets as :func:`write_datasets` needs them."""

    parameters: dict[str, Any]

    def tables(self) -> dict[str, pd.DataFrame]:
        """Dataset name → DataFrame, in writing order."""
        ...

    def metadata(self) -> pd.DataFrame:
        """One row per dataset × variable (label, type, unit, derivation, source, citation)."""
        ...

    def counts(self) -> dict[str, Any]:
        """Headline counts (plain JSON types)."""
        ...


def write_datasets(ds: DatasetBundle, out_dir: str | Path) -> dict[str, Path]:
    """Write every dataset as ``<name>.parquet`` and ``<name>.csv`` (read by R without options:
    :func:`latc.io.write_table_csv`), plus ``metadata.csv`` / ``metadata.json`` (one row per
    dataset × variable, from ``ds.metadata()``) and ``parameters.json`` (``ds.parameters`` and
    ``ds.counts()``). Returns name → path of what was written (CSV paths for the datasets)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, t in ds.tables().items():
        t.to_parquet(out / f"{name}.parquet", index=False)
        write_table_csv(t, out / f"{name}.csv")
        written[name] = out / f"{name}.csv"
    meta = ds.metadata()
    write_table_csv(meta, out / "metadata.csv")
    (out / "metadata.json").write_text(json.dumps(meta.to_dict(orient="records"), indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "parameters.json").write_text(json.dumps({"parameters": ds.parameters, "counts": ds.counts()}, indent=2),
                                         encoding="utf-8")
    written["metadata"] = out / "metadata.csv"
    written["parameters"] = out / "parameters.json"
    return written
