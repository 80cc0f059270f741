"""Gene positions (chromosome, start, end) for copy-number inference.

infercnvpy orders genes along the genome, so it needs ``chromosome``/``start``/``end`` in ``.var``.
Nothing is downloaded at run time; three sources, in the order :func:`add_gene_positions` takes them:

1. positions already in ``adata.var`` (``chromosome``, ``start``, ``end``) — kept as they are;
2. a table or a GTF the user gives (``positions=``): a DataFrame indexed by gene symbol (or with a
   ``gene`` column) or a path to the GTF of the reference the data were aligned to (Cell Ranger's
   ``genes/genes.gtf``, plain or gzipped; :func:`read_gtf_genes`, matched on ``gene_name``, then
   on the Ensembl ID) — the right choice for real data;
3. the shipped table ``resources/gene_positions_grch38.csv``: GRCh38 positions of the ~1,000 genes
   of the synthetic scRNA-seq panel and the shipped marker/signature tables, built with
   :func:`gene_positions_from_orgdb` from Bioconductor's ``org.Hs.eg.db`` 3.16.0 (UCSC hg38 gene
   locations of 2022-08-31; symbols from NCBI Entrez Gene 2022-09-12). Provenance in
   ``resources/README.md``. It covers the panels, not a transcriptome: on real data it places only
   those genes, and :func:`add_gene_positions` says so.
"""

from __future__ import annotations

import re
import sqlite3
import warnings
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from latc.omics._manifest import OmicsInputError

__all__ = ["POSITION_COLUMNS", "add_gene_positions", "gene_positions_from_orgdb", "load_gene_positions", "read_gtf_genes"]

POSITION_COLUMNS = ("chromosome", "start", "end")
SHIPPED = "gene_positions_grch38.csv"
_GTF_ATTR = re.compile(r'(\w+) "([^"]*)"')
_MAIN = [str(i) for i in range(1, 23)] + ["X", "Y"]


@lru_cache(maxsize=1)
def _shipped() -> pd.DataFrame:
    with resources.files("latc.omics.resources").joinpath(SHIPPED).open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype={"chromosome": str, "ensembl_id": str})


def load_gene_positions() -> pd.DataFrame:
    """The shipped GRCh38 table: ``gene`` (symbol as used by the panels), ``chromosome`` (``chr1`` …
    ``chrX``), ``start``/``end`` (1-based, inclusive), ``strand``, ``entrez_id``, ``ensembl_id``,
    ``official_symbol`` (current HGNC symbol when the panel uses an older one)."""
    return _shipped().copy()


def _lookup_table(positions: pd.DataFrame) -> pd.DataFrame:
    """A gene-symbol-indexed (chromosome, start, end) table; shipped rows are also found by their
    current symbol (``official_symbol``) so data with renamed genes (SEPTIN7 for SEPT7) match."""
    p = positions.copy()
    if "gene" in p.columns:
        p = p.set_index("gene")
    missing = [c for c in POSITION_COLUMNS if c not in p.columns]
    if missing:
        raise OmicsInputError(f"gene-position table lacks column(s) {missing}; it needs gene, chromosome, start, end")
    out = p[list(POSITION_COLUMNS)]
    if "official_symbol" in p.columns:
        alt = p.reset_index().dropna(subset=["official_symbol"]).set_index("official_symbol")[list(POSITION_COLUMNS)]
        out = pd.concat([out, alt[~alt.index.isin(out.index)]])
    out = out[~out.index.duplicated()]
    out["chromosome"] = out["chromosome"].astype(str).map(lambda c: c if c.startswith("chr") else f"chr{c}")
    return out


def add_gene_positions(adata: AnnData, positions: pd.DataFrame | str | Path | None = None, *,
                       min_genes: int = 200, warn_below: float = 0.5) -> dict:
    """Put ``chromosome``/``start``/``end`` into ``adata.var`` (in place) and return a coverage record
    ``{"source", "n_genes", "n_placed", "fraction_placed"}``.

    ``positions``: None (keep ``var``'s positions if complete enough, else the shipped GRCh38 table),
    a DataFrame (index or ``gene`` column = symbols in ``var_names``) or a GTF path
    (:func:`read_gtf_genes`; matched on ``gene_name``, then on the Ensembl ID). Genes without a position get NaN (infercnvpy skips them). Fewer than
    ``min_genes`` placed genes → :class:`OmicsInputError` naming the remedy; fewer than
    ``warn_below`` of the genes placed → ``UserWarning`` (real data with the shipped panel table:
    give the GTF of the alignment reference).
    """
    var = adata.var
    if positions is None and set(POSITION_COLUMNS) <= set(var.columns) and var["chromosome"].notna().sum() >= min_genes:
        source = "adata.var"
    elif isinstance(positions, (str, Path)):
        path = Path(positions)
        if not path.is_file():
            raise OmicsInputError(f"GTF not found: {path}")
        _assign(adata, _match_gtf(adata, read_gtf_genes(path)))
        source = f"gtf:{path.name}"
    else:
        table = _lookup_table(load_gene_positions() if positions is None else positions)
        _assign(adata, table)
        source = "shipped:" + SHIPPED if positions is None else "table"
    placed = int(adata.var["chromosome"].notna().sum())
    frac = placed / max(adata.n_vars, 1)
    rec = {"source": source, "n_genes": int(adata.n_vars), "n_placed": placed, "fraction_placed": frac}
    if placed < min_genes:
        raise OmicsInputError(
            f"only {placed} of {adata.n_vars} genes have a genomic position ({source}); copy-number inference needs "
            f"≥ {min_genes}. Give the GTF of the reference the data were aligned to (e.g. Cell Ranger's "
            "genes/genes.gtf) or a table with gene, chromosome, start, end (see docs/omics/malignant_cells.md)")
    if frac < warn_below:
        warnings.warn(f"only {placed} of {adata.n_vars} genes ({frac:.0%}) have a genomic position "
                      f"({source}); give the GTF of the alignment reference for a genome-wide CNV profile",
                      UserWarning, stacklevel=2)
    return rec


def read_gtf_genes(path: str | Path) -> pd.DataFrame:
    """The ``gene`` records of a GTF (plain or ``.gz``): ``gene_name, gene_id`` (version suffix
    removed), ``chromosome`` (``chr``-prefixed), ``start``, ``end`` (1-based, as in the GTF).

    Reads line by line, keeping only ``gene`` features (a GENCODE GTF of ~3 M lines takes seconds
    to a minute); no extra dependency (infercnvpy's reader needs ``gtfparse``/polars)."""
    import gzip

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 9 or parts[2] != "gene":
                continue
            attrs = dict(_GTF_ATTR.findall(parts[8]))
            chrom = parts[0] if parts[0].startswith("chr") else f"chr{parts[0]}"
            rows.append((attrs.get("gene_name", attrs.get("gene_id", "")),
                         re.sub(r"\.\d+$", "", attrs.get("gene_id", "")), chrom, int(parts[3]), int(parts[4])))
    g = pd.DataFrame(rows, columns=["gene_name", "gene_id", "chromosome", "start", "end"])
    if g.empty:
        raise OmicsInputError(f"{path}: no 'gene' records found (is it a GTF?)")
    return g


def _match_gtf(adata: AnnData, gtf: pd.DataFrame) -> pd.DataFrame:
    """Positions indexed by ``var_names``: by gene symbol (``gene_name``; for a symbol on several
    records — PAR genes, duplicates — the first on chrX/autosomes), else by the Ensembl ID in
    ``var_names`` or in ``var["gene_ids"]`` (Cell Ranger / ``sc.read_10x_h5``)."""
    gtf = gtf.assign(_y=gtf["chromosome"].eq("chrY")).sort_values("_y", kind="stable")
    by_name = gtf.drop_duplicates("gene_name").set_index("gene_name")[list(POSITION_COLUMNS)]
    by_id = gtf.drop_duplicates("gene_id").set_index("gene_id")[list(POSITION_COLUMNS)]
    out = by_name.reindex(adata.var_names)
    ids = adata.var["gene_ids"].astype(str) if "gene_ids" in adata.var else pd.Series(adata.var_names, index=adata.var_names)
    ids = ids.str.replace(r"\.\d+$", "", regex=True)
    fill = by_id.reindex(ids.to_numpy())
    fill.index = adata.var_names
    return out.fillna(fill) if len(out) else out


def _assign(adata: AnnData, table: pd.DataFrame) -> None:
    t = table.reindex(adata.var_names)
    adata.var["chromosome"] = t["chromosome"].astype(object).where(t["chromosome"].notna(), None).to_numpy()
    adata.var["start"] = pd.to_numeric(t["start"], errors="coerce").to_numpy()
    adata.var["end"] = pd.to_numeric(t["end"], errors="coerce").to_numpy()


def gene_positions_from_orgdb(sqlite_path: str | Path, genes: Iterable[str]) -> pd.DataFrame:
    """GRCh38 positions of ``genes`` from a Bioconductor ``org.Hs.eg.db`` SQLite file
    (``org.Hs.eg.db/extdata/org.Hs.eg.sqlite``; Debian ships it as ``r-bioc-org.hs.eg.db``): the
    recipe of the shipped table, usable offline for any gene list (e.g. all genes of a real data
    set, where no GTF is at hand).

    A symbol is matched as the current NCBI symbol, else as an alias of exactly one gene. Position:
    UCSC ``CHRLOC``/``CHRLOCEND`` on the primary assembly (alt/fix contigs dropped; X preferred for
    PAR genes), the smallest start and largest end over the gene's transcripts, 0-based start
    converted to 1-based. Genes not found are left out.
    """
    con = sqlite3.connect(f"file:{Path(sqlite_path)}?mode=ro", uri=True)
    try:
        info = pd.read_sql("select g._id, g.gene_id, i.symbol from genes g join gene_info i on g._id = i._id", con)
        loc = pd.read_sql("select _id, seqname, start_location, end_location from chromosome_locations", con)
        alias = pd.read_sql("select _id, alias_symbol from alias", con)
        ens = pd.read_sql("select _id, ensembl_id from ensembl", con)
    finally:
        con.close()
    loc = loc[loc["seqname"].isin(_MAIN)].copy()
    loc["s"], loc["e"] = loc["start_location"].abs(), loc["end_location"].abs()
    loc["strand"] = np.where(loc["start_location"] < 0, "-", "+")
    located = set(loc["_id"])
    sym = dict(zip(info["symbol"], info["_id"]))
    al = alias[alias["_id"].isin(located)].groupby("alias_symbol")["_id"].agg(lambda s: sorted(set(s)))
    by_id = {k: g for k, g in loc.groupby("_id")}
    first_ens = ens.sort_values("ensembl_id").drop_duplicates("_id").set_index("_id")["ensembl_id"]
    entrez = info.set_index("_id")["gene_id"]
    official = info.set_index("_id")["symbol"]
    rows = []
    for g in dict.fromkeys(genes):
        _id = sym.get(g)
        if _id is None or _id not in located:
            ids = al.get(g, [])
            _id = ids[0] if len(ids) == 1 else None
        if _id is None or _id not in by_id:
            continue
        lg = by_id[_id]
        chrom = "X" if "X" in set(lg["seqname"]) else lg["seqname"].value_counts().index[0]
        lg = lg[lg["seqname"] == chrom]
        rows.append({"gene": g, "chromosome": f"chr{chrom}", "start": int(lg["s"].min()) + 1, "end": int(lg["e"].max()),
                     "strand": lg["strand"].iloc[0], "entrez_id": int(entrez[_id]),
                     "ensembl_id": first_ens.get(_id, ""), "official_symbol": official[_id]})
    return pd.DataFrame(rows, columns=["gene", "chromosome", "start", "end", "strand", "entrez_id", "ensembl_id",
                                       "official_symbol"])
