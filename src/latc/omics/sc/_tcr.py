"""T-cell receptor (TCR) clonotypes: expansion, clone sharing between tissues and timepoints, clone
tracking pre → post treatment, and their association with response (scirpy; docs/omics/tcr.md).

**Input.** A 10x Genomics V(D)J library is the companion of a scRNA-seq library: the same cells
(GEM barcodes) sequenced for their TCR chains. Its file lies **beside the scRNA-seq file** that the
biospecimen manifest's ``file_ref`` names (:func:`vdj_path_for`), so the manifest row (sample,
patient, timepoint, tissue) reaches the TCR cells unchanged, and V(D)J barcodes join the gene
expression cells exactly: for ``file_ref`` ``omics/scrna_seq/S1.h5ad`` (or ``S1.h5``, or a matrix
folder ``S1/``) the first of ``omics/scrna_seq/S1_filtered_contig_annotations.csv[.gz]`` (Cell
Ranger ``filtered_contig_annotations.csv``) or ``S1_airr_rearrangement.tsv`` (AIRR rearrangement
TSV, e.g. Cell Ranger's ``airr_rearrangement.tsv``); for a Cell Ranger output file
(``…/filtered_feature_bc_matrix[.h5]``, ``…/sample_filtered_feature_bc_matrix[.h5]``) also
``filtered_contig_annotations.csv`` / ``airr_rearrangement.tsv`` in the same folder, or in
``../vdj_t/`` when that folder is ``count/`` (``cellranger multi``'s ``per_sample_outs`` layout).
``vdj_files`` (sample id → path relative to the data folder) overrides the rule. Every path must
stay inside the data folder (:func:`latc._paths.resolve_inside` / :func:`latc._paths.inside`).

A malformed file (missing column, a bad value in a row) is refused with a message naming the
sample, the file, the line and the field (:func:`check_contigs`); the other samples still run
(``strict=True``: raise instead).

**Method** (each step documented in its function):

1. read each file with scirpy (:func:`scirpy.io.read_10x_vdj`, :func:`scirpy.io.read_airr`); cell
   names ``<sample_id>:<barcode>`` as in the gene-expression AnnData;
2. link to gene expression (:func:`link_gex`): keep cells that passed scRNA-seq QC and, when cell
   types are annotated, are T cells (:data:`T_CELL_TYPES`);
3. chain QC (:func:`scirpy.tl.chain_qc`): drop multichain, non-TCR, ambiguous and no-IR cells;
4. clonotypes (:func:`define_clones`): identical CDR3 nucleotide sequences (``sequence="nt"``, the
   default; ``"aa"``: identical amino-acid CDR3) of both receptor arms, any of the two pairs of a
   dual-TCR cell, within patient — :func:`scirpy.tl.define_clonotypes` with ``receptor_arms="all"``,
   ``dual_ir="any"``, ``within_group=["receptor_type", "patient_id"]``; then a cell with one chain
   only joins the paired clonotype carrying that chain when exactly one does (Platypus'
   ``VDJ_clonotype(hierarchical="single.chains")``, Yermanos et al., NAR Genom Bioinform 2021);
5. expansion per sample (:func:`scirpy.tl.clonal_expansion`, ``expanded_in="sample_id"``): a clone
   is *expanded* in a sample with ≥ ``min_expanded`` (2) cells there;
6. sample features (:func:`tcr_features`), overlap between a patient's samples (:func:`clonal_overlap`:
   Morisita–Horn and Jaccard), clone tracking pre → post (:func:`track_clones`,
   :func:`tracking_summary`), association with response / RFS (the single-cell
   :func:`latc.omics.sc._features.associate_features`, BH-FDR per stratum).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from latc._paths import PathEscapeError, inside, resolve_inside
from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, refuse, samples_for
from latc.omics._output import Output, Progress, no_progress
from latc.omics.sc._composition import bh
from latc.omics.sc._io import ASSAY

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.figure import Figure

    from latc.omics._outcomes import Outcomes

__all__ = ["CONTIG_COLUMNS", "T_CELL_TYPES", "TCR_TABLES", "TRACKING_CATEGORIES", "VDJ_ASSAY", "VDJ_SUFFIXES",
           "TcrResult", "check_contigs", "tenx_to_airr", "clonal_overlap", "clone_table", "define_clones", "expansion_classes",
           "jaccard", "link_gex", "morisita_horn", "read_tcr", "read_vdj", "run_tcr", "tcr_features", "tcr_qc",
           "tcr_figures", "tcr_step", "track_clones", "tracking_summary", "vdj_companion", "vdj_path_for",
           "write_tcr_h5ad", "write_tcr_outputs", "annotate_gex", "to_mudata"]

#: the ``assay`` of a refused V(D)J file in ``refused_samples.csv`` (the companion of a scRNA-seq row)
VDJ_ASSAY = "scrna_seq_vdj"
#: names beside a scRNA-seq file ``<stem>.<ext>`` (first found wins); the synthetic writer uses the first
VDJ_SUFFIXES = ("_filtered_contig_annotations.csv", "_filtered_contig_annotations.csv.gz", "_airr_rearrangement.tsv",
                "_airr_rearrangement.tsv.gz")
#: Cell Ranger's own file names, used when the scRNA-seq file is a Cell Ranger output
_CELLRANGER_VDJ = ("filtered_contig_annotations.csv", "filtered_contig_annotations.csv.gz", "airr_rearrangement.tsv")
_CELLRANGER_GEX = ("filtered_feature_bc_matrix", "sample_filtered_feature_bc_matrix")
#: Cell Ranger ``filtered_contig_annotations.csv`` columns the reader needs (Cell Ranger ≥ 3 writes them all)
CONTIG_COLUMNS = ["barcode", "is_cell", "contig_id", "high_confidence", "chain", "v_gene", "d_gene", "j_gene", "c_gene",
                  "productive", "cdr3", "cdr3_nt", "reads", "umis"]
_AIRR_COLUMNS = ["cell_id", "locus", "productive", "v_call", "j_call"]
#: annotated cell types counted as T cells (``latc.omics.sc`` marker table); NK cells carry no TCR
T_CELL_TYPES = ("cd8_t_effector", "cd8_t_exhausted", "cd8_t_memory", "cd4_t", "treg")
#: clone categories of :func:`track_clones`
TRACKING_CATEGORIES = ("expanded", "persistent", "contracted", "new", "lost")
#: columns of :func:`track_clones`
TRACKING_COLUMNS = ["patient_id", "tissue", "pre", "post", "clone_id", "n_pre", "n_post", "n_cells_pre", "n_cells_post",
                    "freq_pre", "freq_post", "log2_fold_change", "p", "q", "category"]
#: result tables, in the order they are written
TCR_TABLES = ["tcr_qc", "tcr_clones", "tcr_expansion", "tcr_features", "tcr_overlap", "tcr_tracking",
              "tcr_tracking_summary", "tcr_associations"]
#: chain pairings removed before clonotypes (scirpy ``chain_qc``): likely doublets or no usable receptor
_DROP_PAIRING = ("multichain", "no IR", "ambiguous")
#: clone-size classes of :func:`expansion_classes` (cells of the clone in the sample)
SIZE_CLASSES = (("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6-10", 6, 10), (">10", 11, np.inf))

_LOCI = {"TRA", "TRB", "TRG", "TRD", "IGH", "IGK", "IGL"}
_MISSING = {"", "none", "nan", "na", "null"}
_BOOL = {"true", "false", "t", "f", "1", "0"}
_AA = re.compile(r"^[ACDEFGHIKLMNPQRSTVWY*]+$")
_NT = re.compile(r"^[ACGTN]+$")
_ORDER_TP = {"baseline": 0, "on_treatment": 1, "surgery": 2, "follow_up": 3}
_ORDER_TISSUE = {"tumour": 0, "lymph_node": 1, "blood": 2}


def _ir():
    """scirpy, imported on first use (0.5 s; not needed by ``import latc.omics.sc``)."""
    import scirpy as ir

    return ir


@contextmanager
def _quiet():
    """scirpy's log lines (e.g. "Non-standard locus name: Multi" for Cell Ranger's ``Multi`` contigs)
    and library FutureWarnings off while it runs; data problems are raised by latc's own checks."""
    import warnings

    import scanpy as sc

    before = sc.settings.verbosity
    sc.settings.verbosity = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sc.settings.verbosity = before


# -- where the V(D)J file is ------------------------------------------------------------------------

def _stem(p: Path) -> str:
    name = p.name
    for ext in (".h5ad", ".h5", ".zarr", ".loom"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def vdj_companion(file_ref: str) -> str:
    """The V(D)J file name the synthetic writer puts beside a scRNA-seq ``file_ref``
    (``omics/scrna_seq/S1.h5ad`` → ``omics/scrna_seq/S1_filtered_contig_annotations.csv``)."""
    p = Path(str(file_ref))
    return str(p.with_name(_stem(p) + VDJ_SUFFIXES[0]).as_posix())


def vdj_path_for(path: str | Path) -> Path | None:
    """The V(D)J file beside a scRNA-seq file or folder (rules in the module docstring), or None."""
    p = Path(path)
    stem = _stem(p)
    cands = [p.with_name(stem + s) for s in VDJ_SUFFIXES]
    if stem in _CELLRANGER_GEX:
        cands += [p.parent / n for n in _CELLRANGER_VDJ]
        if p.parent.name == "count":
            cands += [p.parent.parent / "vdj_t" / n for n in _CELLRANGER_VDJ]
    return next((c for c in cands if c.is_file()), None)


# -- reading and checking ---------------------------------------------------------------------------

def _read_table(path: Path, sep: str, what: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except FileNotFoundError:
        raise OmicsInputError(f"{what}: file missing: {path}") from None
    except pd.errors.EmptyDataError:
        raise OmicsInputError(f"{what}: {path.name} is empty (no header line, no contig)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise OmicsInputError(f"{what}: {path.name} is not a readable {'CSV' if sep == ',' else 'TSV'} file "
                              f"({type(exc).__name__}: {first})") from None
    df.columns = [str(c).strip() for c in df.columns]
    blank = df.apply(lambda c: c.astype(str).str.strip() == "").all(axis=1)
    return df[~blank]


def _problems(df: pd.DataFrame, checks: list[tuple[str, pd.Series, str]], id_col: str) -> pd.DataFrame:
    rows = []
    for fld, bad, why in checks:
        for i in np.flatnonzero(bad.to_numpy()):
            idx = df.index[i]
            rows.append({"line": int(idx) + 2, id_col: df.at[idx, id_col] if id_col in df else "", "field": fld,
                         "value": df.at[idx, fld] if fld in df else "", "problem": why})
    out = pd.DataFrame(rows, columns=["line", id_col, "field", "value", "problem"])
    return out.sort_values(["line", "field"], kind="stable").reset_index(drop=True)


def check_contigs(df: pd.DataFrame, *, airr: bool = False) -> pd.DataFrame:
    """Problems of a contig table as rows ``line, barcode (cell_id), field, value, problem``
    (empty when it is fine). ``df``: the file read as text (``dtype=str``), index = data row number
    from 0 (line = index + 2, the header being line 1).

    10x ``filtered_contig_annotations.csv`` (``airr=False``): the :data:`CONTIG_COLUMNS` exist; a
    barcode is set; ``chain`` is a locus (TRA, TRB, TRG, TRD, IGH, IGK, IGL), ``Multi`` or None;
    ``productive``, ``is_cell``, ``high_confidence`` are true/false/None; ``reads``, ``umis`` are
    counts; ``cdr3`` amino acids and ``cdr3_nt`` nucleotides (A, C, G, T, N); a productive contig
    has both, with ``len(cdr3_nt) == 3 × len(cdr3)``; ``contig_id`` unique. AIRR TSV (``airr=True``):
    ``cell_id, locus, productive, v_call, j_call`` and ``junction`` or ``junction_aa`` exist, a
    ``cell_id`` is set, ``locus`` is one of the loci, ``productive`` true/false (T/F), junctions are
    sequences. Missing columns give one row with ``line`` 1.
    """
    id_col = "cell_id" if airr else "barcode"
    need = list(_AIRR_COLUMNS) if airr else list(CONTIG_COLUMNS)
    missing = [c for c in need if c not in df.columns]
    if airr and not ({"junction", "junction_aa"} & set(df.columns)):
        missing.append("junction or junction_aa")
    if missing:
        return pd.DataFrame([{"line": 1, id_col: "", "field": ", ".join(missing), "value": "",
                              "problem": f"missing column(s) (has: {', '.join(map(str, df.columns[:20]))})"}])
    t = {c: df[c].astype(str).str.strip() for c in df.columns}
    low = {c: v.str.lower() for c, v in t.items()}
    absent = {c: low[c].isin(_MISSING) for c in t}
    checks: list[tuple[str, pd.Series, str]] = [(id_col, absent[id_col], "empty")]
    if airr:
        checks.append(("locus", ~t["locus"].isin(_LOCI), "not a receptor locus (TRA, TRB, TRG, TRD, IGH, IGK, IGL)"))
        checks.append(("productive", ~(absent["productive"] | low["productive"].isin(_BOOL)), "not true/false"))
        prod = low["productive"].isin({"true", "t", "1"})
        aa_col, nt_col = "junction_aa", "junction"
    else:
        checks.append(("chain", ~(t["chain"].isin(_LOCI | {"Multi"}) | absent["chain"]),
                       "not a receptor chain (TRA, TRB, TRG, TRD, IGH, IGK, IGL, Multi or None)"))
        for c in ("productive", "is_cell", "high_confidence"):
            checks.append((c, ~(absent[c] | low[c].isin(_BOOL)), "not true/false/None"))
        for c in ("reads", "umis"):
            checks.append((c, ~(t[c].str.fullmatch(r"\d+") | absent[c]), "not a count (a whole number ≥ 0)"))
        dup = t["contig_id"].duplicated(keep="first") & ~absent["contig_id"]
        checks.append(("contig_id", dup, "duplicate contig_id"))
        prod = low["productive"].isin({"true", "t", "1"})
        aa_col, nt_col = "cdr3", "cdr3_nt"
    has_aa, has_nt = aa_col in t, nt_col in t
    if has_aa:
        checks.append((aa_col, ~(absent[aa_col] | t[aa_col].str.upper().str.fullmatch(_AA.pattern)),
                       "not an amino-acid sequence"))
    if has_nt:
        checks.append((nt_col, ~(absent[nt_col] | t[nt_col].str.upper().str.fullmatch(_NT.pattern)),
                       "not a nucleotide sequence (A, C, G, T, N)"))
    if not airr:
        checks.append((aa_col, prod & absent[aa_col], "empty for a productive contig"))
        checks.append((nt_col, prod & absent[nt_col], "empty for a productive contig"))
    if has_aa and has_nt:
        both = prod & ~absent[aa_col] & ~absent[nt_col]
        checks.append((nt_col, both & (t[nt_col].str.len() != 3 * t[aa_col].str.len()),
                       f"length is not 3 × the length of {aa_col} (the same CDR3 in nucleotides)"))
    return _problems(df, checks, id_col)


_TRUE_TXT, _FALSE_TXT = {"true", "t", "1"}, {"false", "f", "0"}
_CODON_C, _CODON_END = {"TGT", "TGC"}, {"TGG", "TTT", "TTC"}


def tenx_to_airr(df: pd.DataFrame) -> pd.DataFrame:
    """A checked 10x contig table (text, :func:`check_contigs`) as AIRR rearrangement rows, the
    field mapping of :func:`scirpy.io.read_10x_vdj`: ``chain`` → ``locus``, ``cdr3``/``cdr3_nt`` →
    ``junction_aa``/``junction`` (``cdr3_aa``/``cdr3`` = without the conserved C and W/F),
    ``umis`` → ``umi_count``, ``reads`` → ``consensus_count``, genes → ``v/d/j/c_call``,
    ``contig_id`` → ``sequence_id``; only ``is_cell`` and ``high_confidence`` contigs (scirpy's
    ``filtered=True``). Read from text, so a barcode stays as written (scirpy's own CSV reader
    types an all-digit barcode ``00012`` as the number 12); 4–6× faster than it, too."""
    t = {c: df[c].astype(str).str.strip() for c in CONTIG_COLUMNS}
    low = {c: v.str.lower() for c, v in t.items()}
    keep = (low["is_cell"].isin(_TRUE_TXT) & low["high_confidence"].isin(_TRUE_TXT)).to_numpy()

    def val(c: str) -> pd.Series:
        v = t[c][keep].astype(object)
        return v.where(~low[c][keep].isin(_MISSING).to_numpy(), None)

    def flag(c: str) -> pd.Series:
        v = low[c][keep]
        return v.map(lambda x: True if x in _TRUE_TXT else False if x in _FALSE_TXT else None).astype(object)

    def count(c: str) -> pd.Series:
        return pd.to_numeric(val(c), errors="coerce").astype("Int64").astype(object).where(lambda x: x.notna(), None)

    jaa, jnt = val("cdr3"), val("cdr3_nt")
    cdr3_aa = jaa.map(lambda x: x[1:-1] if isinstance(x, str) and x[0] == "C" and x[-1] in "WF" else None)
    cdr3_nt = jnt.map(lambda x: x[3:-3] if isinstance(x, str) and x[:3].upper() in _CODON_C
                      and x[-3:].upper() in _CODON_END else None)
    return pd.DataFrame({
        "cell_id": t["barcode"][keep], "sequence_id": val("contig_id"), "locus": val("chain"), "v_call": val("v_gene"),
        "d_call": val("d_gene"), "j_call": val("j_gene"), "c_call": val("c_gene"), "productive": flag("productive"),
        "junction": jnt, "junction_aa": jaa, "cdr3": cdr3_nt, "cdr3_aa": cdr3_aa, "umi_count": count("umis"),
        "consensus_count": count("reads"), "is_cell": flag("is_cell"), "high_confidence": flag("high_confidence"),
    }).reset_index(drop=True)


def _refusal_message(sid: str, path: Path, probs: pd.DataFrame) -> str:
    """The refusal of a V(D)J file: sample, file, line, field and rule of the first problem and how many
    more, each field with its line. The barcode and the value are never quoted: a mis-pasted cell may
    hold a name or an email, and the line number finds it."""
    first = probs.iloc[0]
    n = len(str(first["value"]))
    val = f" (a {n}-character value)" if n else ""
    more = ""
    if len(probs) > 1:
        rest = "; ".join(f"line {r['line']} {r['field']}" for _, r in probs.iloc[1:6].iterrows())
        more = f"; {len(probs) - 1} more problem(s): {rest}" + (" …" if len(probs) > 6 else "")
    return f"sample {sid}: V(D)J file {path}: line {first['line']}: field {first['field']}{val} {first['problem']}{more}"


def read_vdj(path: str | Path, sample: pd.Series | Mapping[str, Any]) -> AnnData:
    """Read one V(D)J file with scirpy and attach the manifest row as ``obs`` :data:`SAMPLE_KEYS`.

    ``.csv``/``.csv.gz``: 10x ``filtered_contig_annotations.csv`` (or ``all_contig_annotations.csv``,
    filtered to ``is_cell`` and ``high_confidence``), converted by :func:`tenx_to_airr` and read with
    :func:`scirpy.io.read_airr` (the result equals :func:`scirpy.io.read_10x_vdj`'s; tested);
    ``.tsv``/``.tsv.gz``: AIRR rearrangement TSV, read with :func:`scirpy.io.read_airr`; ``.json``:
    10x ``all_contig_annotations.json``. Both tables are checked first (:func:`check_contigs`); a
    problem raises :class:`OmicsInputError` naming the sample, file, line and field. Returns cells ×
    0 genes with the chains in ``obsm["airr"]`` (scirpy's data model), cell names
    ``<sample_id>:<barcode>`` and ``obs["barcode"]``.
    """
    ir = _ir()
    sample = dict(sample)
    sid = str(sample["sample_id"])
    p = Path(path)
    name = p.name.lower()
    what = f"sample {sid}: V(D)J file {p}"
    if not p.is_file():
        raise OmicsInputError(f"{what}: file missing")
    with _quiet():
        if name.endswith((".csv", ".csv.gz")):
            df = _read_table(p, ",", what)
            probs = check_contigs(df)
            if len(probs):
                raise OmicsInputError(_refusal_message(sid, p, probs))
            if df.empty:
                raise OmicsInputError(f"{what}: {p.name} has a header line but no contig rows")
            airr = tenx_to_airr(df)
            a = _scirpy_read(lambda: ir.io.read_airr(airr, cell_attributes=("is_cell",)), what)
        elif name.endswith((".tsv", ".tsv.gz")):
            df = _read_table(p, "\t", what)
            probs = check_contigs(df, airr=True)
            if len(probs):
                raise OmicsInputError(_refusal_message(sid, p, probs))
            if df.empty:
                raise OmicsInputError(f"{what}: {p.name} has a header line but no rearrangement rows")
            if "sample_id" in df.columns:
                other = df["sample_id"].astype(str).str.strip()
                bad = other[(other != sid) & (other != "")]
                if len(bad):
                    raise OmicsInputError(f"{what}: line {int(bad.index[0]) + 2}: field sample_id "
                                          f"is another sample than the manifest row's {sid!r}")
            typed = df.drop(columns=[c for c in ("sample_id",) if c in df.columns]).astype(object)
            typed = typed.where(typed != "", None)
            a = _scirpy_read(lambda: ir.io.read_airr(typed), what)
        elif name.endswith(".json"):
            a = _scirpy_read(lambda: ir.io.read_10x_vdj(p), what)
        else:
            raise OmicsInputError(f"{what}: not a 10x contig CSV/JSON or an AIRR TSV (.csv, .csv.gz, .json, .tsv)")
    if a.n_obs == 0:
        raise OmicsInputError(f"{what}: holds no cell (no contig with is_cell and high_confidence)")
    a.obs["barcode"] = a.obs_names.astype(str)
    for k in SAMPLE_KEYS:
        a.obs[k] = pd.Categorical(np.repeat(str(sample[k]), a.n_obs))
    a.obs_names = pd.Index(sid + ":" + a.obs_names.astype(str))
    return a


def _scirpy_read(fn, what: str) -> AnnData:
    try:
        return fn()
    except OmicsInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a foreign file scirpy cannot parse: a data problem, one line
        raise OmicsInputError(f"{what}: scirpy cannot read it ({type(exc).__name__}: {str(exc)[:200]})") from None


def read_tcr(manifest: pd.DataFrame, root: str | Path, *, strict: bool = False, sample_ids: list[str] | None = None,
             vdj_files: Mapping[str, str | Path] | None = None) -> AnnData:
    """The V(D)J libraries of a manifest's scRNA-seq samples, concatenated (scirpy's AnnData:
    cells × 0 genes, chains in ``obsm["airr"]``, ``obs`` :data:`SAMPLE_KEYS` + ``barcode``).

    Each ``scrna_seq`` row's V(D)J file is found beside its ``file_ref`` (:func:`vdj_path_for`) or
    given in ``vdj_files`` (sample id → path relative to ``root``). A file outside ``root``, a
    malformed file and a ``vdj_files`` entry naming a sample that is not a scRNA-seq sample of the
    manifest are refused — one :class:`latc.omics._manifest.SampleRefused` warning each, naming the
    sample, file, line and field — and the other samples are read; ``strict=True`` raises
    :class:`OmicsInputError` instead. ``uns``: ``tcr_files`` (sample → path), ``tcr_refused`` (the
    refusal records), ``tcr_without_vdj`` (scRNA-seq samples with no V(D)J file: normal when only
    some libraries had a TCR run). No file at all → :class:`OmicsInputError`.
    """
    import anndata as ad

    for k in SAMPLE_KEYS + ["assay", "file_ref"]:
        if k not in manifest.columns:
            raise OmicsInputError(f"the biospecimen manifest has no column {k!r}")
    root = Path(root)
    m = samples_for(manifest, ASSAY, root, require_files=False)
    if sample_ids is not None:
        m = m[m["sample_id"].astype(str).isin([str(s) for s in sample_ids])]
    refused: list[dict] = []

    def fail(sid, ref, rule: str, msg: str) -> None:
        if strict:
            raise OmicsInputError(msg)
        refused.append(refuse(sid, VDJ_ASSAY, ref, rule, msg))

    given = {str(k): v for k, v in (vdj_files or {}).items()}
    known = set(m["sample_id"].astype(str))
    for sid in sorted(set(given) - known):
        fail(sid, given[sid], "vdj_unknown_sample",
             f"V(D)J file {given[sid]} for sample {sid}: not a scRNA-seq sample of the manifest with a file_ref "
             f"(rule vdj_unknown_sample)")
    parts, files, without = [], {}, []
    for r in m.itertuples(index=False):
        sid = str(r.sample_id)
        if sid in given:
            try:
                vdj = resolve_inside(root, str(given[sid]), what="V(D)J file", root_label=f"the data folder {root}")
            except PathEscapeError as exc:
                fail(sid, given[sid], exc.rule, f"sample {sid}: V(D)J file not read, {exc} (rule {exc.rule})")
                continue
            if not vdj.is_file():
                fail(sid, given[sid], "vdj_missing", f"sample {sid}: V(D)J file {vdj} not found (rule vdj_missing)")
                continue
        else:
            found = vdj_path_for(r.path)
            if found is None:
                without.append(sid)
                continue
            vdj = found
            if not inside(root, vdj):
                fail(sid, str(vdj), "file_ref_outside",
                     f"sample {sid}: V(D)J file {vdj.name} beside its file_ref {r.file_ref!r} resolves outside the "
                     f"data folder {root} (a symbolic link pointing outside) (rule file_ref_outside)")
                continue
        try:
            parts.append(read_vdj(vdj, pd.Series(r._asdict())))
        except OmicsInputError as exc:
            fail(sid, str(vdj), "vdj_malformed", f"{exc} (rule vdj_malformed)")
            continue
        files[sid] = str(vdj)
    if not parts:
        n = len(m)
        raise OmicsInputError(f"no readable V(D)J file for the {n} scRNA-seq sample(s) of the manifest under {root} "
                              f"(looked beside each file_ref for <name>{VDJ_SUFFIXES[0]} or <name>{VDJ_SUFFIXES[2]})"
                              + (f"; {len(refused)} refused" if refused else ""))
    with _quiet():
        a = ad.concat(parts, join="outer", merge="same", uns_merge="first")
    for k in SAMPLE_KEYS:
        a.obs[k] = a.obs[k].astype(str).astype("category")
    a.uns["tcr_files"] = files
    a.uns["tcr_refused"] = pd.DataFrame(refused, columns=["sample_id", "assay", "file_ref", "rule", "message"])
    a.uns["tcr_without_vdj"] = without
    return a


# -- linking to gene expression ----------------------------------------------------------------------

def link_gex(tcr: AnnData, adata: AnnData, *, cell_type: str = "cell_type") -> AnnData:
    """Add the gene-expression side to the TCR cells, in place: ``obs["in_gex"]`` (the cell is in
    ``adata``, i.e. passed scRNA-seq QC), ``obs[cell_type]`` and ``obs["lineage"]`` where annotated,
    and ``obs["is_t_cell"]`` (annotated as one of :data:`T_CELL_TYPES`; True for every cell when
    ``adata`` carries no annotation). Cells are matched by name (``<sample_id>:<barcode>``)."""
    names = pd.Index(tcr.obs_names)
    tcr.obs["in_gex"] = names.isin(adata.obs_names)
    if cell_type in adata.obs:
        for c in (cell_type, "lineage"):
            if c in adata.obs:
                v = adata.obs[c].astype(str).reindex(names)
                tcr.obs[c] = pd.Categorical(v.where(tcr.obs["in_gex"].to_numpy()))
        tcr.obs["is_t_cell"] = tcr.obs[cell_type].astype(str).isin(T_CELL_TYPES).to_numpy()
    else:
        tcr.obs["is_t_cell"] = True
    return tcr


def to_mudata(adata: AnnData, tcr: AnnData):
    """The gene expression and the TCR cells in one :class:`mudata.MuData` (modalities ``gex`` and
    ``airr``: scirpy's multimodal data model), for scirpy's plotting functions on the embedding."""
    import mudata

    return mudata.MuData({"gex": adata, "airr": tcr})


def annotate_gex(adata: AnnData, tcr: AnnData) -> AnnData:
    """Copy the clonotype results onto the gene-expression cells, in place (missing for cells
    without an analysed TCR): ``tcr_clone_id``, ``tcr_clone_size`` (cells of the clone in the
    sample), ``tcr_expanded`` (bool, size ≥ the run's ``min_expanded``), ``tcr_clonal_expansion``
    (size class) and ``tcr_chain_pairing``."""
    cols = {"clone_id": "tcr_clone_id", "clone_size_sample": "tcr_clone_size", "expanded": "tcr_expanded",
            "clonal_expansion": "tcr_clonal_expansion", "chain_pairing": "tcr_chain_pairing"}
    for src, dst in cols.items():
        if src not in tcr.obs:
            continue
        v = cast(pd.DataFrame, tcr.obs)[src].reindex(adata.obs_names)
        if src in ("clone_size_sample",):
            adata.obs[dst] = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        elif src == "expanded":
            adata.obs[dst] = pd.array(v.to_numpy(dtype=object), dtype="boolean")
        else:
            adata.obs[dst] = pd.Categorical(v.astype(object).where(v.notna(), None))
    return adata


# -- QC and clonotypes ---------------------------------------------------------------------------------

def tcr_qc(tcr: AnnData) -> pd.DataFrame:
    """Per sample: V(D)J cells read, cells in the gene expression (passed QC; when linked), cells
    annotated as T cells, and cells per scirpy chain pairing (``pairing__single_pair``,
    ``pairing__orphan_VDJ``, …; :func:`scirpy.tl.chain_qc` is run when not yet done)."""
    if "chain_pairing" not in tcr.obs:
        _chain_qc(tcr)
    obs = cast(pd.DataFrame, tcr.obs)
    sid = obs["sample_id"].astype(str)
    base = obs[SAMPLE_KEYS].astype(str).drop_duplicates("sample_id").set_index("sample_id")
    out = pd.DataFrame({"n_vdj_cells": sid.value_counts()})
    if "in_gex" in obs:
        out["n_in_gex"] = obs["in_gex"].astype(bool).groupby(sid).sum()
        out["n_t_cells"] = (obs["in_gex"].astype(bool) & obs["is_t_cell"].astype(bool)).groupby(sid).sum()
    pair = pd.crosstab(sid, obs["chain_pairing"].astype(str))
    pair.columns = ["pairing__" + str(c).replace(" ", "_") for c in pair.columns]
    out = base.join(out, how="right").join(pair)
    out["n_non_tcr"] = (obs["receptor_type"].astype(str) != "TCR").groupby(sid).sum()
    out.index.name = "sample_id"
    return out.reset_index().sort_values("sample_id").reset_index(drop=True)


def _chain_qc(tcr: AnnData) -> None:
    ir = _ir()
    with _quiet():
        ir.pp.index_chains(tcr)
        ir.tl.chain_qc(tcr)


def define_clones(tcr: AnnData, *, sequence: str = "nt", rescue_orphans: bool = True, n_jobs: int = 1) -> AnnData:
    """Clonotypes of the TCR cells, in place: ``obs["clone_id"]`` (``<patient_id>:<n>``) and
    ``obs["clone_id_size"]`` (cells of the clone over all the patient's samples).

    Two cells are one clonotype when the CDR3 sequences of both receptor arms (TRA and TRB) are
    identical — nucleotides (``sequence="nt"``, :func:`scirpy.tl.define_clonotypes`: the same
    rearrangement) or amino acids (``"aa"``: :func:`scirpy.tl.define_clonotype_clusters` with the
    identity metric, so convergent nucleotide variants coding the same CDR3 count as one) — with
    ``receptor_arms="all"``, ``dual_ir="any"`` (a cell with two TRA chains matches on either pair)
    and ``within_group=["receptor_type", "patient_id"]`` (a clonotype never spans patients: a
    public CDR3 in two patients is two clonotypes). ``rescue_orphans``: a clonotype whose cells have
    one chain only (orphan VJ / VDJ: the other chain was not captured) joins the single
    paired clonotype of the same patient carrying that chain, if exactly one does
    (``obs["orphan_rescued"]``); otherwise it stays its own clonotype.
    """
    if sequence not in ("nt", "aa"):
        raise ValueError(f"sequence must be 'nt' or 'aa', not {sequence!r}")
    ir = _ir()
    if "chain_pairing" not in tcr.obs:
        _chain_qc(tcr)
    with _quiet():
        kw: dict[str, Any] = dict(receptor_arms="all", dual_ir="any", within_group=["receptor_type", "patient_id"],
                                  key_added="clone_id", n_jobs=n_jobs)
        if sequence == "nt":
            ir.pp.ir_dist(tcr, metric="identity", sequence="nt", n_jobs=n_jobs)
            ir.tl.define_clonotypes(tcr, **kw)
        else:
            ir.pp.ir_dist(tcr, metric="identity", sequence="aa", n_jobs=n_jobs)
            ir.tl.define_clonotype_clusters(tcr, sequence="aa", metric="identity", **kw)
    obs = tcr.obs
    cid = obs["patient_id"].astype(str) + ":" + obs["clone_id"].astype(str)
    obs["orphan_rescued"] = False
    if rescue_orphans:
        cid, rescued = _rescue_orphans(tcr, cid, "junction" if sequence == "nt" else "junction_aa")
        obs["orphan_rescued"] = rescued
    obs["clone_id"] = pd.Categorical(cid)
    obs["clone_id_size"] = cid.map(cid.value_counts()).astype(int).to_numpy()
    tcr.uns["latc_tcr_clonotypes"] = {"sequence": sequence, "metric": "identity", "receptor_arms": "all",
                                      "dual_ir": "any", "within_group": ["receptor_type", "patient_id"],
                                      "rescue_orphans": bool(rescue_orphans)}
    for k in ("clone_id", f"ir_dist_{sequence}_identity"):
        tcr.uns.pop(k, None)  # scirpy's distance matrices: large, regenerable, not writable to h5ad
    return tcr


def _rescue_orphans(tcr: AnnData, cid: pd.Series, field_name: str) -> tuple[pd.Series, np.ndarray]:
    ir = _ir()
    seq = ir.get.airr(tcr, field_name, ["VJ_1", "VJ_2", "VDJ_1", "VDJ_2"])
    seq.index = tcr.obs_names
    obs = cast(pd.DataFrame, tcr.obs)
    pairing = obs["chain_pairing"].astype(str)
    orphan_kind = pairing.where(pairing.isin(["orphan VJ", "orphan VDJ"]))
    pid = obs["patient_id"].astype(str)
    # per clone: all cells orphans of one arm?
    kinds = orphan_kind.groupby(cid, observed=True).agg(lambda s: s.iloc[0] if s.notna().all() and s.nunique() == 1
                                                       else None)
    paired = cid[orphan_kind.isna()]
    index: dict[tuple[str, str, str], set[str]] = {}
    for arm, cols in (("VJ", ["VJ_1", "VJ_2"]), ("VDJ", ["VDJ_1", "VDJ_2"])):
        for col in cols:
            s = seq.loc[paired.index, f"{col}_{field_name}"]
            ok = s.notna()
            for p, q, c in zip(pid[paired.index][ok], s[ok], paired[ok]):
                index.setdefault((p, arm, str(q)), set()).add(c)
    new = cid.copy()
    rescued = np.zeros(len(cid), dtype=bool)
    for clone, kind in kinds.dropna().items():
        members = cid.index[cid.to_numpy() == clone]
        arm = "VJ" if kind == "orphan VJ" else "VDJ"
        q = seq.loc[members[0], f"{arm}_1_{field_name}"]
        if pd.isna(q):
            continue
        targets = index.get((str(pid[members[0]]), arm, str(q)), set())
        if len(targets) == 1:
            new.loc[members] = next(iter(targets))
            rescued[cid.index.get_indexer(members)] = True
    return new, rescued


def _size_class(n: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=n.index, dtype="object")
    for label, lo, hi in SIZE_CLASSES:
        out[(n >= lo) & (n <= hi)] = label
    return pd.Series(pd.Categorical(out, categories=[c[0] for c in SIZE_CLASSES], ordered=True), index=n.index)


def _expansion(tcr: AnnData, min_expanded: int) -> None:
    """``clone_size_sample``, ``expanded`` and ``clonal_expansion`` (scirpy, per sample) in ``obs``."""
    ir = _ir()
    obs = tcr.obs
    key = obs["sample_id"].astype(str) + "\t" + obs["clone_id"].astype(str)
    obs["clone_size_sample"] = key.map(key.value_counts()).astype(int).to_numpy()
    obs["expanded"] = obs["clone_size_sample"] >= int(min_expanded)
    with _quiet():
        # scirpy's categories: "<= 1", "<= 2", "<= 5", "<= 10", "> 10" cells of the clone in the sample
        ir.tl.clonal_expansion(tcr, target_col="clone_id", expanded_in="sample_id", breakpoints=(1, 2, 5, 10),
                               key_added="clonal_expansion")


# -- tables -------------------------------------------------------------------------------------------

def _counts(obs: pd.DataFrame) -> pd.DataFrame:
    """Cells per sample × clone with the sample keys."""
    keys = [k for k in SAMPLE_KEYS if k in obs]
    c = obs.groupby(["sample_id", "clone_id"], observed=True).size().rename("n_cells").reset_index()
    c = c[c["n_cells"] > 0]
    base = obs[keys].astype(str).drop_duplicates("sample_id")
    c["sample_id"] = c["sample_id"].astype(str)
    c["clone_id"] = c["clone_id"].astype(str)
    return c.merge(base, on="sample_id", how="left")


def clone_table(tcr: AnnData, *, min_expanded: int = 2) -> pd.DataFrame:
    """One row per clone × sample: sample keys, ``clone_id``, ``n_cells``, ``frequency`` (share of
    the sample's analysed cells), ``rank`` in the sample (1 = largest), ``expanded`` (≥
    ``min_expanded`` cells), the clone's primary chains (most frequent ``TRA``/``TRB`` CDR3 amino
    acids and V genes: ``tra_cdr3``, ``trb_cdr3``, ``trav``, ``trbv``) and, when linked to gene
    expression, its commonest ``cell_type``."""
    ir = _ir()
    obs = tcr.obs
    c = _counts(obs)
    n = c.groupby("sample_id")["n_cells"].transform("sum")
    c["frequency"] = c["n_cells"] / n
    c["rank"] = c.groupby("sample_id")["n_cells"].rank(method="min", ascending=False).astype(int)
    c["expanded"] = c["n_cells"] >= int(min_expanded)
    chains = ir.get.airr(tcr, ["junction_aa", "v_call"], ["VJ_1", "VDJ_1"])
    chains.index = tcr.obs_names
    chains["clone_id"] = obs["clone_id"].astype(str).to_numpy()
    cols = {"tra_cdr3": "VJ_1_junction_aa", "trb_cdr3": "VDJ_1_junction_aa", "trav": "VJ_1_v_call",
            "trbv": "VDJ_1_v_call"}
    per_clone = pd.DataFrame({k: _mode(chains["clone_id"], chains[v]) for k, v in cols.items()})
    if "cell_type" in obs:
        per_clone["cell_type"] = _mode(obs["clone_id"].astype(str), obs["cell_type"].astype(object))
    c = c.merge(per_clone, left_on="clone_id", right_index=True, how="left")
    first = [k for k in SAMPLE_KEYS if k in c]
    order = first + ["clone_id", "n_cells", "frequency", "rank", "expanded"] + [x for x in per_clone.columns]
    return c[order].sort_values(["patient_id", "sample_id", "rank", "clone_id"]).reset_index(drop=True)


def _mode(group: pd.Series, value: pd.Series) -> pd.Series:
    """The commonest non-missing ``value`` per ``group`` (ties: the first in sort order)."""
    d = pd.DataFrame({"g": np.asarray(group, dtype=object), "v": np.asarray(value, dtype=object)}).dropna()
    if d.empty:
        return pd.Series(dtype=object)
    n = d.groupby(["g", "v"]).size().rename("n").reset_index()
    n = n.sort_values(["g", "n", "v"], ascending=[True, False, True]).drop_duplicates("g")
    return n.set_index("g")["v"]


def expansion_classes(tcr: AnnData) -> pd.DataFrame:
    """Long table: per sample and clone-size class (:data:`SIZE_CLASSES`: cells of the clone in
    the sample, 1, 2, 3-5, 6-10, >10) the cells and their ``fraction`` of the sample's cells — the
    numbers of the expansion figure."""
    c = _counts(tcr.obs)
    c["size_class"] = _size_class(c["n_cells"])
    keys = [k for k in SAMPLE_KEYS if k in c]
    t = c.groupby(keys + ["size_class"], observed=False)["n_cells"].sum().rename("n_cells").reset_index()
    t = t[t["sample_id"].isin(c["sample_id"])]
    t = t.merge(c[keys].drop_duplicates("sample_id"), on=keys, how="inner")
    t["fraction"] = t["n_cells"] / t.groupby("sample_id")["n_cells"].transform("sum")
    return t.sort_values(["sample_id", "size_class"]).reset_index(drop=True)


def morisita_horn(x: np.ndarray, y: np.ndarray) -> float:
    """Morisita–Horn overlap of two abundance vectors over the same clones (Horn, Am Nat
    1966;100:419): C = 2 Σ xᵢyᵢ / ((Dₓ + D_y) X Y) with Dₓ = Σ xᵢ² / X², X = Σ xᵢ. 0 = no shared clone,
    1 = the same clones in the same proportions; weighted by abundance, so it is driven by the
    expanded clones and little affected by sampling depth (Rempala & Seweryn, J Math Biol
    2013;67:1339). NaN when either sample is empty."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    X, Y = x.sum(), y.sum()
    if X <= 0 or Y <= 0:
        return float("nan")
    dx, dy = (x ** 2).sum() / X ** 2, (y ** 2).sum() / Y ** 2
    return float(2 * (x * y).sum() / ((dx + dy) * X * Y))


def jaccard(x: np.ndarray, y: np.ndarray) -> float:
    """Jaccard index of the clones present (> 0) in two samples: |A ∩ B| / |A ∪ B| (presence only;
    singletons weigh as much as expanded clones, so it falls with sampling depth)."""
    a, b = np.asarray(x) > 0, np.asarray(y) > 0
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else float("nan")


def _pair_stats(xa: pd.Series, xb: pd.Series, min_expanded: int) -> dict:
    both = pd.concat([xa.rename("a"), xb.rename("b")], axis=1).fillna(0)
    a, b = both["a"].to_numpy(), both["b"].to_numpy()
    shared = (a > 0) & (b > 0)
    return {"n_cells_a": int(a.sum()), "n_cells_b": int(b.sum()), "n_clones_a": int((a > 0).sum()),
            "n_clones_b": int((b > 0).sum()), "n_shared_clones": int(shared.sum()),
            "n_shared_expanded": int((shared & ((a >= min_expanded) | (b >= min_expanded))).sum()),
            "jaccard": jaccard(a, b), "morisita_horn": morisita_horn(a, b),
            "shared_cell_fraction_a": float(a[shared].sum() / a.sum()) if a.sum() else np.nan,
            "shared_cell_fraction_b": float(b[shared].sum() / b.sum()) if b.sum() else np.nan}


def _sample_order(s: pd.DataFrame) -> pd.DataFrame:
    return s.assign(_t=s["tissue"].map(_ORDER_TISSUE).fillna(9), _p=s["timepoint"].map(_ORDER_TP).fillna(9)) \
        .sort_values(["patient_id", "_t", "_p", "sample_id"]).drop(columns=["_t", "_p"])


def clonal_overlap(tcr: AnnData, *, min_expanded: int = 2) -> pd.DataFrame:
    """Clone sharing between every two samples of a patient (tissues and timepoints): sample keys of
    both (``_a``, ``_b``), cells and clones of each, ``n_shared_clones``, ``n_shared_expanded``
    (shared and expanded in at least one), ``jaccard`` (presence), ``morisita_horn`` (abundance;
    :func:`morisita_horn`) and the share of each sample's cells in shared clones."""
    c = _counts(tcr.obs)
    samples = _sample_order(c[["sample_id", "patient_id", "tissue", "timepoint"]].drop_duplicates("sample_id"))
    rows = []
    for pid, s in samples.groupby("patient_id", sort=True):
        ids = list(s["sample_id"])
        vec = {sid: c[c["sample_id"] == sid].set_index("clone_id")["n_cells"] for sid in ids}
        meta = s.set_index("sample_id")
        for i, sa in enumerate(ids):
            for sb in ids[i + 1:]:
                rows.append({"patient_id": pid, "sample_a": sa, "tissue_a": meta.at[sa, "tissue"],
                             "timepoint_a": meta.at[sa, "timepoint"], "sample_b": sb, "tissue_b": meta.at[sb, "tissue"],
                             "timepoint_b": meta.at[sb, "timepoint"], **_pair_stats(vec[sa], vec[sb], min_expanded)})
    cols = ["patient_id", "sample_a", "tissue_a", "timepoint_a", "sample_b", "tissue_b", "timepoint_b", "n_cells_a",
            "n_cells_b", "n_clones_a", "n_clones_b", "n_shared_clones", "n_shared_expanded", "jaccard", "morisita_horn",
            "shared_cell_fraction_a", "shared_cell_fraction_b"]
    return pd.DataFrame(rows, columns=cols)


def _clonality(tcr: AnnData) -> pd.Series:
    """Per sample 1 − normalised Shannon entropy of clone sizes (scirpy's ``alpha_diversity``)."""
    ir = _ir()
    with _quiet():
        h = ir.tl.alpha_diversity(tcr, "sample_id", target_col="clone_id", metric="normalized_shannon_entropy",
                                  inplace=False)
    h = h.iloc[:, 0]
    h.index = h.index.astype(str)
    return (1.0 - h.astype(float)).round(12).clip(0.0, 1.0)  # 0, not ±1e-16, for all-singleton samples


def tcr_features(tcr: AnnData, *, min_expanded: int = 2, min_cells: int = 10) -> pd.DataFrame:
    """Sample-level TCR features, one row per sample (:data:`SAMPLE_KEYS` + columns):

    * ``n_cells`` — analysed T cells with a clonotype (not tested in associations);
    * ``tcr_n_clonotypes`` — distinct clonotypes (richness; depends on ``n_cells``);
    * ``tcr_n_expanded_clones`` — clonotypes with ≥ ``min_expanded`` cells in the sample;
    * ``tcr_expanded_cell_fraction`` — share of cells in those clonotypes (scirpy's clonal expansion);
    * ``tcr_clonality`` — 1 − normalised Shannon entropy of clone sizes, 1 − H/ln(S) (Pielou's J,
      scirpy's ``alpha_diversity(metric="normalized_shannon_entropy")``; 0 = all clones equal,
      1 = one clone; Tumeh et al., Nature 2014;515:568 used the same "clonality");
    * ``tcr_top_clone_fraction`` — share of cells in the largest clonotype;
    * ``tcr_expanded_cell_fraction_cd8`` — as above among CD8 T cells (when annotated);
    * tumour and lymph-node samples, against the same patient's blood at the same timepoint
      (NaN without one): ``tcr_blood_shared_clones`` (clonotypes also in blood),
      ``tcr_blood_shared_cell_fraction`` (share of the sample's cells in them) and
      ``tcr_blood_morisita_horn``.

    Samples with fewer than ``min_cells`` cells get NaN for the fractions, clonality and sharing
    (a few cells say nothing about a repertoire).
    """
    obs = cast(pd.DataFrame, tcr.obs)
    c = _counts(obs)
    keys = [k for k in SAMPLE_KEYS if k in c]
    g = c.groupby("sample_id")
    f = pd.DataFrame({"n_cells": g["n_cells"].sum(), "tcr_n_clonotypes": g.size()})
    exp = c[c["n_cells"] >= int(min_expanded)].groupby("sample_id")
    f["tcr_n_expanded_clones"] = exp.size().reindex(f.index).fillna(0).astype(int)
    f["tcr_expanded_cell_fraction"] = exp["n_cells"].sum().reindex(f.index).fillna(0) / f["n_cells"]
    f["tcr_clonality"] = _clonality(tcr).reindex(f.index)
    f["tcr_top_clone_fraction"] = g["n_cells"].max() / f["n_cells"]
    if "cell_type" in obs and obs["cell_type"].notna().any():
        cd8 = obs["cell_type"].astype(str).str.startswith("cd8").to_numpy()
        o8 = obs[cd8]
        n8 = o8.groupby(o8["sample_id"].astype(str), observed=True).size()
        e8 = o8[o8["expanded"].astype(bool)].groupby(o8["sample_id"].astype(str)[o8["expanded"].astype(bool)],
                                                      observed=True).size() if "expanded" in o8 else None
        frac8 = (e8.reindex(n8.index).fillna(0) / n8) if e8 is not None else pd.Series(np.nan, index=n8.index)
        f["tcr_expanded_cell_fraction_cd8"] = frac8.where(n8 >= min_cells).reindex(f.index)
    small = f["n_cells"] < min_cells
    for col in ("tcr_expanded_cell_fraction", "tcr_clonality", "tcr_top_clone_fraction"):
        f.loc[small, col] = np.nan
    f = _blood_sharing(c, f, min_cells)
    base = c[keys].drop_duplicates("sample_id").set_index("sample_id")
    out = base.join(f, how="right")
    out.index.name = "sample_id"
    return _sample_order(out.reset_index()).reset_index(drop=True)


def _blood_sharing(c: pd.DataFrame, f: pd.DataFrame, min_cells: int) -> pd.DataFrame:
    for col in ("tcr_blood_shared_clones", "tcr_blood_shared_cell_fraction", "tcr_blood_morisita_horn"):
        f[col] = np.nan
    meta = c.drop_duplicates("sample_id").set_index("sample_id")
    blood = c[c["tissue"] == "blood"]
    for sid, m in meta[meta["tissue"] != "blood"].iterrows():
        b = blood[(blood["patient_id"] == m["patient_id"]) & (blood["timepoint"] == m["timepoint"])]
        if b.empty or f.at[sid, "n_cells"] < min_cells or b["n_cells"].sum() < min_cells:
            continue
        st = _pair_stats(c[c["sample_id"] == sid].set_index("clone_id")["n_cells"],
                         b.groupby("clone_id")["n_cells"].sum(), 2)
        f.loc[sid, ["tcr_blood_shared_clones", "tcr_blood_shared_cell_fraction", "tcr_blood_morisita_horn"]] = [
            st["n_shared_clones"], st["shared_cell_fraction_a"], st["morisita_horn"]]
    return f


def track_clones(tcr: AnnData, *, tissue: str, pre: str = "baseline", post: str = "surgery", min_expanded: int = 2,
                 fold: float = 2.0) -> pd.DataFrame:
    """Clone tracking pre → post per patient in one tissue: one row per clone present in either
    sample (samples of the same patient, tissue and timepoint are pooled).

    Columns: ``patient_id, tissue, pre, post, clone_id, n_pre, n_post, n_cells_pre, n_cells_post``
    (cells of the clone; analysed cells of the sample), ``freq_pre, freq_post``, ``log2_fold_change``
    (of the frequencies, pseudocount 0.5 cell), ``p`` (two-sided Fisher exact test of the clone's
    cells vs the other cells, post vs pre; clones seen in one cell only are not tested), ``q``
    (BH per patient) and ``category``:

    * ``new`` — not seen pre, seen post;
    * ``lost`` — seen pre, not seen post;
    * ``expanded`` — seen in both, ≥ ``min_expanded`` cells post and frequency × ≥ ``fold``;
    * ``contracted`` — seen in both, ≥ ``min_expanded`` cells pre and frequency ÷ ≥ ``fold``;
    * ``persistent`` — seen in both, otherwise.

    "Not seen" means not sampled: most single-cell clones are seen once, so ``new``/``lost``
    singletons are sampling; read them with :func:`tracking_summary`'s expanded counts.
    """
    c = _counts(tcr.obs)
    c = c[c["tissue"] == tissue]
    rows = []
    for pid, d in c.groupby("patient_id", sort=True):
        a = d[d["timepoint"] == pre].groupby("clone_id")["n_cells"].sum()
        b = d[d["timepoint"] == post].groupby("clone_id")["n_cells"].sum()
        if a.empty or b.empty:
            continue
        t = pd.concat([a.rename("n_pre"), b.rename("n_post")], axis=1).fillna(0).astype(int)
        t["n_cells_pre"], t["n_cells_post"] = int(a.sum()), int(b.sum())
        t.insert(0, "patient_id", pid)
        rows.append(t.reset_index(names="clone_id"))
    cols = TRACKING_COLUMNS
    if not rows:
        return pd.DataFrame(columns=cols)
    t = pd.concat(rows, ignore_index=True)
    t["tissue"], t["pre"], t["post"] = tissue, pre, post
    t["freq_pre"] = t["n_pre"] / t["n_cells_pre"]
    t["freq_post"] = t["n_post"] / t["n_cells_post"]
    t["log2_fold_change"] = np.log2(((t["n_post"] + 0.5) / t["n_cells_post"]) / ((t["n_pre"] + 0.5) / t["n_cells_pre"]))
    t["p"] = np.nan
    tested = (t["n_pre"] + t["n_post"]) >= 2
    t.loc[tested, "p"] = [stats.fisher_exact([[npo, Npo - npo], [npr, Npr - npr]])[1] for npo, Npo, npr, Npr in
                          t.loc[tested, ["n_post", "n_cells_post", "n_pre", "n_cells_pre"]].itertuples(index=False)]
    t["q"] = t.groupby("patient_id")["p"].transform(lambda p: pd.Series(bh(p), index=p.index))
    k = int(min_expanded)
    both = (t["n_pre"] > 0) & (t["n_post"] > 0)
    cat = np.select(
        [(t["n_pre"] == 0), (t["n_post"] == 0),
         both & (t["n_post"] >= k) & (t["freq_post"] >= fold * t["freq_pre"]),
         both & (t["n_pre"] >= k) & (t["freq_pre"] >= fold * t["freq_post"])],
        ["new", "lost", "expanded", "contracted"], default="persistent")
    t["category"] = pd.Categorical(cat, categories=list(TRACKING_CATEGORIES))
    return t[cols].sort_values(["patient_id", "category", "n_post"], ascending=[True, True, False]).reset_index(drop=True)


#: numeric columns of :func:`tracking_summary` that are tested against the outcomes
TRACKING_FEATURES = ["n_expanded", "n_new_expanded", "n_contracted", "n_lost_expanded", "expanding_cell_fraction_post",
                     "replacement_fraction"]


def tracking_summary(tracking: pd.DataFrame, *, min_expanded: int = 2) -> pd.DataFrame:
    """Per patient, tissue and comparison (``timepoint`` = ``"<post>-<pre>"``, as
    :func:`latc.omics.sc._features.feature_changes`): cells and clones pre and post, clones per
    category, and

    * ``n_expanded`` — clones seen in both samples that expanded (``category == "expanded"``);
    * ``n_new_expanded`` — clones not seen pre with ≥ ``min_expanded`` cells post;
    * ``n_contracted``, ``n_lost_expanded`` — the reverse;
    * ``expanding_cell_fraction_post`` — share of post cells in expanded or new-expanded clones;
    * ``replacement_fraction`` — among clones with ≥ ``min_expanded`` cells post, the share not
      seen pre (clonal replacement, Yost et al., Nat Med 2019;25:1251; low = expansion of
      pre-existing clones, "revival"); NaN when no clone is expanded post;
    * ``n_significant_up`` — clones with q < 0.05 and a positive fold change.
    """
    cols = ["patient_id", "tissue", "timepoint", "pre", "post", "n_cells_pre", "n_cells_post", "n_clones_pre",
            "n_clones_post"] + [f"n_{c}" for c in TRACKING_CATEGORIES if c != "expanded"] + TRACKING_FEATURES + \
        ["n_significant_up"]
    if tracking.empty:
        return pd.DataFrame(columns=list(dict.fromkeys(cols)))
    k = int(min_expanded)
    rows = []
    for (pid, tissue, pre, post), t in tracking.groupby(["patient_id", "tissue", "pre", "post"], sort=True, observed=True):
        cat = t["category"].astype(str)
        new_exp = (cat == "new") & (t["n_post"] >= k)
        grow = (cat == "expanded") | new_exp
        post_exp = t["n_post"] >= k
        r = {"patient_id": pid, "tissue": tissue, "timepoint": f"{post}-{pre}", "pre": pre, "post": post,
             "n_cells_pre": int(t["n_cells_pre"].iloc[0]), "n_cells_post": int(t["n_cells_post"].iloc[0]),
             "n_clones_pre": int((t["n_pre"] > 0).sum()), "n_clones_post": int((t["n_post"] > 0).sum())}
        for c in TRACKING_CATEGORIES:
            r[f"n_{c}"] = int((cat == c).sum())
        r.update(n_new_expanded=int(new_exp.sum()), n_lost_expanded=int(((cat == "lost") & (t["n_pre"] >= k)).sum()),
                 expanding_cell_fraction_post=float(t.loc[grow, "n_post"].sum() / r["n_cells_post"]),
                 replacement_fraction=float((post_exp & (t["n_pre"] == 0)).sum() / post_exp.sum())
                 if post_exp.any() else np.nan,
                 n_significant_up=int(((t["q"] < 0.05) & (t["log2_fold_change"] > 0)).sum()))
        rows.append(r)
    return pd.DataFrame(rows)[list(dict.fromkeys(cols))]


# -- the run ------------------------------------------------------------------------------------------

@dataclass
class TcrResult:
    """Tables of a TCR run (:data:`TCR_TABLES`), the analysed TCR cells (scirpy AnnData) and the
    analyses skipped (``analysis, tissue, contrast, reason``, as the single-cell run's)."""

    tcr: AnnData | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    responders: pd.Series | None = None
    parameters: dict = field(default_factory=dict)

    def summary(self) -> str:
        if self.tcr is None:
            return "TCR: not analysed (" + "; ".join(s["reason"] for s in self.skipped) + ")"
        f = self.tables.get("tcr_features", pd.DataFrame())
        lines = [f"TCR: {self.tcr.n_obs:,} T cells, {self.tcr.obs['clone_id'].nunique():,} clonotypes in "
                 f"{len(f)} samples of {self.tcr.obs['patient_id'].nunique()} patients"]
        a = self.tables.get("tcr_associations")
        if a is not None and len(a):
            lines.append(f"tcr_associations: {len(a):,} tests, {int((a['q'] < 0.05).sum()):,} with FDR < 0.05")
        return "\n".join(lines)

    def figures(self) -> dict[str, Figure]:
        """The TCR figures by name (:func:`tcr_figures`)."""
        return tcr_figures(self.tables, responders=self.responders) if self.tcr is not None else {}


def tcr_figures(tables: Mapping[str, pd.DataFrame], *, responders: pd.Series | None = None) -> dict[str, Figure]:
    """The TCR figures drawn from the result tables (name → Figure): ``tcr_expansion`` (from
    ``tcr_expansion``), ``tcr_tumour_blood_overlap`` (``tcr_overlap``) and ``tcr_tracking``
    (``tcr_tracking_summary``), each only when its table has rows. ``responders``: bool per
    patient_id (:meth:`latc.omics._outcomes.Outcomes.responders`) for the colours."""
    from latc.omics.sc._tcr_plots import expansion_bars, tracking_plot, tumour_blood_overlap

    out: dict[str, Figure] = {}
    for name, table, draw in (("tcr_expansion", "tcr_expansion", expansion_bars),
                              ("tcr_tumour_blood_overlap", "tcr_overlap", tumour_blood_overlap),
                              ("tcr_tracking", "tcr_tracking_summary", tracking_plot)):
        t = tables.get(table)
        if t is not None and len(t):
            out[name] = draw(t, responders=responders)
    return out


def _default_comparisons() -> list[tuple[str, str, str]]:
    from latc.omics.sc._run import COMPARISONS  # the single-cell run's (tissue, pre, post) list

    return list(COMPARISONS)


def run_tcr(tcr: AnnData, *, adata: AnnData | None = None, outcomes: Outcomes | None = None,
            comparisons: list[tuple[str, str, str]] | None = None, sequence: str = "nt", min_expanded: int = 2,
            fold: float = 2.0, min_cells: int = 10, t_cells_only: bool = True, rescue_orphans: bool = True,
            n_jobs: int = 1, progress: Progress | None = None) -> TcrResult:
    """The TCR analysis of :func:`read_tcr`'s cells (module docstring, steps 2–6).

    ``adata``: the processed gene expression (:func:`latc.omics.sc.process`); when given, only cells
    in it (passed QC) and — with ``t_cells_only`` and an annotation — annotated T cells are
    analysed, and the clonotype columns are copied to its ``obs`` (:func:`annotate_gex`).
    ``outcomes``: :func:`latc.omics._outcomes.load_outcomes`; without a response/RFS column the
    associations are skipped. ``comparisons``: (tissue, pre, post) for tracking and changes
    (default: the single-cell run's :data:`latc.omics.sc.COMPARISONS`). Other options: see
    :func:`define_clones`, :func:`track_clones`, :func:`tcr_features`. ``tcr`` is changed in place
    (``obs`` columns) and a filtered copy is kept in the result.
    """
    from latc.omics.sc._features import associate_features, feature_changes

    step = progress or no_progress
    t0 = time.perf_counter()
    comparisons = _default_comparisons() if comparisons is None else list(comparisons)
    res = TcrResult(tcr=None, parameters={"sequence": sequence, "min_expanded": min_expanded, "fold": fold,
                                          "min_cells": min_cells, "t_cells_only": t_cells_only,
                                          "rescue_orphans": rescue_orphans})
    skip = res.skipped
    step(f"TCR: chain QC and clonotypes ({tcr.n_obs:,} V(D)J cells, {tcr.obs['sample_id'].nunique()} samples)")
    if adata is not None:
        link_gex(tcr, adata)
    _chain_qc(tcr)
    res.tables["tcr_qc"] = tcr_qc(tcr)
    keep = (tcr.obs["receptor_type"].astype(str) == "TCR") & ~tcr.obs["chain_pairing"].astype(str).isin(_DROP_PAIRING)
    if adata is not None:
        keep &= tcr.obs["in_gex"].astype(bool)
        if t_cells_only:
            keep &= tcr.obs["is_t_cell"].astype(bool)
    t = tcr[keep.to_numpy()].copy()
    n_an = t.obs["sample_id"].astype(str).value_counts()
    q = res.tables["tcr_qc"]
    q["n_analysed"] = q["sample_id"].map(n_an).fillna(0).astype(int)
    for _, row in q.loc[q["n_analysed"] == 0].iterrows():
        sid = row["sample_id"]
        if "n_in_gex" in q and row["n_in_gex"] == 0 and row["n_vdj_cells"] > 0:
            why = (f"sample {sid}: none of its {int(row['n_vdj_cells']):,} V(D)J barcodes is a cell of its gene-expression "
                   "library (check the barcode suffix, e.g. -1, and that the V(D)J file belongs to this sample)")
            warnings.warn(why, UserWarning, stacklevel=2)
        else:
            why = (f"sample {sid}: no analysable T cell (no V(D)J cell passed scRNA-seq QC, T-cell annotation "
                   "and chain QC)")
        skip.append({"analysis": "tcr", "tissue": "", "contrast": str(sid), "reason": why})
    if t.n_obs == 0:
        skip.append({"analysis": "tcr", "tissue": "", "contrast": "", "reason": "no analysable T cell"})
        return res
    t.obs = t.obs.copy()
    for k in SAMPLE_KEYS:
        t.obs[k] = t.obs[k].astype(str).astype("category")
    define_clones(t, sequence=sequence, rescue_orphans=rescue_orphans, n_jobs=n_jobs)
    _expansion(t, min_expanded)
    res.tcr = t
    if adata is not None:
        annotate_gex(adata, t)
    res.seconds["clonotypes"] = time.perf_counter() - t0
    step("TCR: expansion, overlap, clone tracking")
    res.tables["tcr_clones"] = clone_table(t, min_expanded=min_expanded)
    res.tables["tcr_expansion"] = expansion_classes(t)
    feats = tcr_features(t, min_expanded=min_expanded, min_cells=min_cells)
    res.tables["tcr_features"] = feats
    res.tables["tcr_overlap"] = clonal_overlap(t, min_expanded=min_expanded)
    tracks, changes = [], []
    for tissue, pre, post in comparisons:
        tr = track_clones(t, tissue=tissue, pre=pre, post=post, min_expanded=min_expanded, fold=fold)
        if tr.empty:
            skip.append({"analysis": "tcr_tracking", "tissue": tissue, "contrast": f"{post} vs {pre}",
                         "reason": "no patient with TCR data at both timepoints"})
            continue
        tracks.append(tr)
        ch = feature_changes(feats, pre=pre, post=post, tissue=tissue)
        if len(ch):
            changes.append(ch)
    res.tables["tcr_tracking"] = pd.concat(tracks, ignore_index=True) if tracks else pd.DataFrame(columns=TRACKING_COLUMNS)
    summ = tracking_summary(res.tables["tcr_tracking"], min_expanded=min_expanded)
    res.tables["tcr_tracking_summary"] = summ
    res.seconds["tables"] = time.perf_counter() - t0 - sum(res.seconds.values())
    step("TCR: association with the outcomes")
    res.tables["tcr_associations"] = _associations(feats, changes, summ, outcomes, skip, associate_features)
    if outcomes is not None:
        res.responders = outcomes.responders()
    res.seconds["associations"] = time.perf_counter() - t0 - sum(res.seconds.values())
    return res


def _associations(feats, changes, summ, outcomes, skip, associate_features) -> pd.DataFrame:
    subj = outcomes.frame() if outcomes is not None else None
    if subj is None or not (outcomes.responses or outcomes.has_rfs):
        reason = "; ".join(outcomes.skipped) if outcomes is not None and outcomes.skipped else "no subject table"
        skip.append({"analysis": "tcr_associations", "tissue": "", "contrast": "", "reason": reason})
        return pd.DataFrame()
    kw = dict(response=outcomes.responses, time=outcomes.time, event=outcomes.event)
    parts = [associate_features(feats, subj, **kw)]
    if changes:
        parts.append(associate_features(pd.concat(changes, ignore_index=True), subj, **kw))
    if len(summ):
        parts.append(associate_features(summ[["patient_id", "tissue", "timepoint"] + TRACKING_FEATURES], subj, **kw))
    return pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else pd.DataFrame()


def tcr_step(manifest: pd.DataFrame, root: str | Path, adata: AnnData | None = None, *,
             outcomes: Outcomes | None = None, strict: bool = False, vdj_files: Mapping[str, str | Path] | None = None,
             progress: Progress | None = None, **kw) -> TcrResult:
    """Read the V(D)J files of the manifest (:func:`read_tcr`, restricted to the samples in
    ``adata`` when given) and :func:`run_tcr` them — the TCR step of the single-cell run. No V(D)J
    file at all is not an error: the result has no tables and one ``skipped`` record saying so."""
    step = progress or no_progress
    t0 = time.perf_counter()
    step("TCR: reading the V(D)J files beside the scRNA-seq libraries")
    ids = None if adata is None else sorted(adata.obs["sample_id"].astype(str).unique())
    try:
        tcr = read_tcr(manifest, root, strict=strict, sample_ids=ids, vdj_files=vdj_files)
    except OmicsInputError as exc:
        if strict or not str(exc).startswith("no readable V(D)J file"):
            raise
        return TcrResult(tcr=None, skipped=[{"analysis": "tcr", "tissue": "", "contrast": "", "reason": str(exc)}])
    secs = time.perf_counter() - t0
    res = run_tcr(tcr, adata=adata, outcomes=outcomes, progress=progress, **kw)
    res.seconds = {"read": secs, **res.seconds}
    res.parameters["files"] = dict(tcr.uns.get("tcr_files", {}))
    return res


def write_tcr_outputs(res: TcrResult, out: str | Path, *, figures: bool = True, h5ad: bool = True,
                      skipped: bool = False) -> list[Path]:
    """Write the TCR tables (``tables/<name>.csv``, :data:`TCR_TABLES`), figures
    (``figures/tcr_*.svg|png``) and the analysed TCR cells (``tcr.h5ad``: scirpy's AnnData, chains
    in ``obsm["airr"]``) into the omics output folder ``out`` (:mod:`latc.omics._output`);
    ``skipped=True`` also writes ``skipped.csv`` (a standalone run; the single-cell run writes its
    own). Returns the paths written."""
    o = Output(out)
    o.root.mkdir(parents=True, exist_ok=True)
    for name in TCR_TABLES:
        if name in res.tables:
            o.table(res.tables[name], name)
    if skipped:
        o.skipped(res.skipped)
    if h5ad and res.tcr is not None:
        o.files.append(write_tcr_h5ad(res.tcr, o.root / "tcr.h5ad"))
    if figures:
        for name, fig in res.figures().items():
            o.figure(fig, name)
    return list(o.files)


def write_tcr_h5ad(tcr: AnnData, path: str | Path) -> Path:
    """Write the analysed TCR cells (scirpy's AnnData, chains in ``obsm["airr"]``) as ``.h5ad``;
    scirpy's distance matrices are left out (regenerable). Read back with
    :func:`anndata.read_h5ad`; :func:`run_tcr` on it reproduces the tables (the statistics-only
    re-run with new outcomes)."""
    import warnings

    a = tcr.copy()
    a.uns = {k: v for k, v in a.uns.items() if k in ("latc_tcr_clonotypes", "scirpy_version", "tcr_files")}
    for c in list(a.obs.columns):
        if a.obs[c].dtype == object:
            a.obs[c] = a.obs[c].astype(str)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.write_h5ad(p, compression="gzip")
    return p
