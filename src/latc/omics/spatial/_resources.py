"""Shipped marker and signature tables for spot-level spatial analysis.

``resources/spatial_markers.csv`` — coarse spot-level lineages (tumour/thyrocyte, fibroblast,
endothelial, CD8 T, CD4 T, B, macrophage) with canonical markers; genes are consistent with the
single-cell table ``resources/immune_markers.csv`` but coarser (Visium spots hold 1–10 cells, so
fine T-cell states are not resolvable). ``resources/spatial_signatures.csv`` — TLS 12-chemokine
(Coppola 2011 Am J Pathol 179:37; Messina 2012 Sci Rep 2:765), Cabrita 2020 (Nature 577:561)
9-gene TLS, TLS hallmark genes, CYT (Rooney 2015 Cell 160:48). Sources per row in ``source``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd


def _read(name: str) -> pd.DataFrame:
    with resources.files("latc.omics").joinpath("resources", name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str)


@lru_cache(maxsize=None)
def _markers() -> pd.DataFrame:
    return _read("spatial_markers.csv")


@lru_cache(maxsize=None)
def _signatures() -> pd.DataFrame:
    return _read("spatial_signatures.csv")


def spatial_markers() -> pd.DataFrame:
    """``cell_type, gene, source`` — the shipped spot-level marker table."""
    return _markers().copy()


def spatial_signatures() -> pd.DataFrame:
    """``signature, gene, source`` — the shipped TLS / cytotoxicity gene sets."""
    return _signatures().copy()


def marker_sets(markers: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """``{cell_type: [genes]}`` from a marker table (default: the shipped one)."""
    m = spatial_markers() if markers is None else markers
    return {ct: list(g) for ct, g in m.groupby("cell_type", sort=False)["gene"]}


def signature_genes(name: str) -> list[str]:
    """Genes of one shipped signature (e.g. ``"tls_12_chemokine"``)."""
    s = _signatures()
    genes = list(s.loc[s["signature"] == name, "gene"])
    if not genes:
        raise KeyError(f"no signature {name!r} in spatial_signatures.csv; have {sorted(set(s['signature']))}")
    return genes
