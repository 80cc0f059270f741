"""Molecular profiles: expression, mutations and generic assays (cBioPortal File-Formats.md).

* **Expression** ("Expression Data"), from a `latc omics bulk run` folder (``adata.h5ad``, layer
  ``counts``): ``rna_seq_mrna`` (CONTINUOUS) holds DESeq2 median-of-ratios normalised counts;
  ``rna_seq_mrna_median_Zscores`` (Z-SCORE) holds, per gene, ``(r − μ) / σ`` of
  ``r = log2(normalised count + 1)`` over **all exported samples** (μ the mean, σ the sample standard
  deviation, n − 1), ``NA`` where σ = 0 — the "all samples" reference population with log
  transform of cBioPortal's Z-Score-normalization-script.md. One column per sample; gene symbols in
  ``Hugo_Symbol``.
* **Mutations** ("Mutation Data"), from the clinical molecular findings of the ``diagnosis`` form on
  the diagnostic sample ``<patient>-DX``: BRAF V600E (GRCh37 chr7:140453136 A>T, c.1799T>A,
  p.V600E, Missense_Mutation) and TERT promoter (5'Flank; the form does not record C228T vs C250T,
  so position and alleles are blank; protein change "Promoter", as cBioPortal's importer names a TERT
  5'Flank variant). ``SWISSPROT`` holds the UniProt accessions (P15056, O14746). RAS, RET
  and fusions are "positive" without the gene / variant / partner, so they cannot be a MAF record;
  they stay clinical attributes and the notes count them.
* **Generic assays** ("Generic Assay", datatype LIMIT-VALUE, one entity per row with ``NAME`` and
  ``DESCRIPTION``): cell-type fractions and signature scores from the omics folders —
  scRNA-seq composition (``composition.csv``) and signature scores (``features.csv`` ``sig__*``),
  spatial deconvolution fractions and spatial features (``spatial_features.csv``), bulk TDS / BRS /
  ERK and immune scores (``bulk_scores.csv``), flow-cytometry populations as % of parent
  (``flow_populations.csv``).

Each omics sample is placed on its biospecimen's SAMPLE_ID (clinical module); a sample the manifest
does not know is not exported and is counted in the notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from latc.cbioportal._inputs import OmicsInput, RunInputs
from latc.cbioportal._writer import CbioportalExportError, Notes

__all__ = ["Profile", "expression_profiles", "mutation_profile", "generic_assay_profiles", "zscores",
           "MUTATIONS", "MAF_COLUMNS"]

#: latc diagnosis field → the MAF record of a positive result (GRCh37)
MUTATIONS: dict[str, dict[str, Any]] = {
    "braf_v600e": {"Hugo_Symbol": "BRAF", "Entrez_Gene_Id": 673, "Chromosome": "7", "Start_Position": 140453136,
                   "End_Position": 140453136, "Variant_Classification": "Missense_Mutation",
                   "Variant_Type": "SNP", "Reference_Allele": "A", "Tumor_Seq_Allele2": "T",
                   "HGVSp_Short": "p.V600E", "SWISSPROT": "P15056"},
    "tert_promoter": {"Hugo_Symbol": "TERT", "Entrez_Gene_Id": 7015, "Chromosome": "5", "Start_Position": None,
                      "End_Position": None, "Variant_Classification": "5'Flank",
                      "Variant_Type": None, "Reference_Allele": None, "Tumor_Seq_Allele2": None,
                      "HGVSp_Short": "Promoter", "SWISSPROT": "O14746"},
}
MAF_COLUMNS = ["Hugo_Symbol", "Entrez_Gene_Id", "NCBI_Build", "Chromosome", "Start_Position", "End_Position",
               "Variant_Classification", "Variant_Type", "Reference_Allele", "Tumor_Seq_Allele2",
               "Tumor_Sample_Barcode", "HGVSp_Short", "SWISSPROT", "Mutation_Status", "Validation_Method"]
_NOT_IN_MAF = {"ras": "RAS (gene and codon not recorded)", "ret": "RET (variant not recorded)"}
_ENTITY_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Profile:
    """One molecular profile: its meta fields, data file and samples (for its case list)."""

    stable_id: str
    filename: str
    meta: dict[str, Any]
    data: pd.DataFrame
    samples: list[str]
    case_list: dict[str, str] = field(default_factory=dict)


def _sample_columns(frame: pd.DataFrame, mapping: dict[str, str], notes: Notes, what: str) -> pd.DataFrame:
    """``frame`` (rows = manifest sample ids) re-indexed by exported SAMPLE_ID; unknown and repeated
    samples reported."""
    ids = pd.Series(frame.index.astype(str), index=frame.index)
    mapped = ids.map(mapping)
    unknown = mapped.isna()
    if unknown.any():
        notes.add(f"{what}: {int(unknown.sum())} sample(s) not in the validated biospecimen manifest are not "
                  f"exported ({', '.join(ids[unknown].head(3))}{' …' if unknown.sum() > 3 else ''})")
    out = frame[~unknown.to_numpy()].copy()
    out.index = pd.Index(mapped[~unknown].to_numpy())
    dup = out.index.duplicated()
    if dup.any():
        notes.add(f"{what}: {int(dup.sum())} further sample(s) of an already exported biospecimen are not exported")
        out = out[~dup]
    return out


def zscores(log_expression: pd.DataFrame) -> pd.DataFrame:
    """Per-gene z-scores of a genes × samples matrix: ``(r − mean) / sd`` over the samples (sd with
    n − 1); NA where sd is 0 or undefined (module docstring)."""
    mu = log_expression.mean(axis=1)
    sd = log_expression.std(axis=1, ddof=1).replace(0.0, np.nan)
    return log_expression.sub(mu, axis=0).div(sd, axis=0)


def expression_profiles(omics: OmicsInput, mapping: dict[str, str], study_id: str, notes: Notes) -> list[Profile]:
    """``rna_seq_mrna`` and ``rna_seq_mrna_median_Zscores`` from a bulk RNA-seq output folder."""
    import anndata as ad

    from latc.omics.bulk._scores import size_factors

    path = omics.folder / "adata.h5ad"
    if not path.is_file():
        raise CbioportalExportError(f"{path}: not found — the bulk run wrote no AnnData")
    a = ad.read_h5ad(path)
    X: Any = a.layers["counts"] if "counts" in a.layers else a.X
    if X is None:
        raise CbioportalExportError(f"{path}: holds no counts (layer 'counts' or X)")
    counts = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=float)
    sample_ids = a.obs["sample_id"].astype(str) if "sample_id" in a.obs else pd.Series(a.obs_names, dtype=str)
    norm = pd.DataFrame(counts / size_factors(counts)[:, None], index=sample_ids.to_numpy(),
                        columns=a.var_names.astype(str))
    norm = _sample_columns(norm, mapping, notes, f"bulk RNA-seq ({path})")
    if norm.empty:
        notes.add(f"{path}: no bulk sample could be placed on a biospecimen: no expression profile")
        return []
    genes = norm.T
    genes.index.name = "Hugo_Symbol"
    z = zscores(np.log2(genes + 1.0))
    samples = list(genes.columns)
    desc = (f"DESeq2 median-of-ratios normalised counts of {len(samples)} bulk RNA-seq samples "
            f"(latc omics bulk run)")
    cont = Profile("rna_seq_mrna", "data_mrna_seq_expression.txt", {
        "genetic_alteration_type": "MRNA_EXPRESSION", "datatype": "CONTINUOUS", "stable_id": "rna_seq_mrna",
        "show_profile_in_analysis_tab": "false", "profile_name": "mRNA expression (bulk RNA-seq, normalised counts)",
        "profile_description": desc}, genes.reset_index(), samples, {
        "suffix": "rna_seq_mrna", "name": "Samples with mRNA data (RNA-seq)",
        "description": f"Samples with bulk RNA-seq expression ({len(samples)} samples)",
        "category": "all_cases_with_mrna_rnaseq_data"})
    zp = Profile("rna_seq_mrna_median_Zscores", "data_mrna_seq_expression_zscores.txt", {
        "genetic_alteration_type": "MRNA_EXPRESSION", "datatype": "Z-SCORE",
        "stable_id": "rna_seq_mrna_median_Zscores", "show_profile_in_analysis_tab": "true",
        "profile_name": "mRNA expression z-scores relative to all samples (log2 RNA-seq)",
        "profile_description": "Per gene: (log2(normalised count + 1) - mean) / SD over all exported samples"},
        z.reset_index(), samples)
    return [cont, zp]


def mutation_profile(inputs: RunInputs, notes: Notes) -> Profile | None:
    """The MAF of the clinical molecular findings on the ``-DX`` samples (module docstring)."""
    subject = inputs.subject
    rows = []
    tested: set[str] = set()
    for field_name, record in MUTATIONS.items():
        if field_name not in subject.columns:
            continue
        status = subject[field_name]
        tested |= set(subject.loc[status.isin(["positive", "negative"]), "patient_id"])
        for pid in subject.loc[status == "positive", "patient_id"]:
            rows.append({**record, "NCBI_Build": "GRCh37", "Tumor_Sample_Barcode": f"{pid}-DX",
                         "Mutation_Status": "Somatic", "Validation_Method": "Clinical molecular test"})
    for field_name, label in _NOT_IN_MAF.items():
        if field_name in subject.columns:
            n = int((subject[field_name] == "positive").sum())
            if n:
                notes.add(f"{n} patient(s) {label} positive: no MAF record (the form does not say which variant); "
                          f"kept as a clinical attribute")
    if "fusion" in subject.columns:
        n = int(subject["fusion"].isin(["ret", "alk", "ntrk", "braf", "other"]).sum())
        if n:
            notes.add(f"{n} patient(s) with a gene fusion: no structural-variant record (partner and breakpoints not "
                      "recorded); kept as the clinical attribute FUSION")
    if not tested:
        notes.add("no patient has a BRAF V600E or TERT promoter test result: no mutation profile")
        return None
    data = pd.DataFrame(rows, columns=MAF_COLUMNS)
    samples = sorted(f"{p}-DX" for p in tested)
    return Profile("mutations", "data_mutations.txt", {
        "genetic_alteration_type": "MUTATION_EXTENDED", "datatype": "MAF", "stable_id": "mutations",
        "show_profile_in_analysis_tab": "true", "profile_name": "Mutations (clinical molecular tests)",
        "swissprot_identifier": "accession",
        "profile_description": "BRAF V600E and TERT promoter mutations of the clinical molecular tests at diagnosis "
                               "(diagnosis form); patients tested for either are in the sequenced case list",
        # TERT promoter mutations are 5'Flank: keep them (the other default filtered classes stay filtered)
        "variant_classification_filter": "Silent,Intron,3'UTR,3'Flank,5'UTR,IGR,RNA"},
        data, samples, {"suffix": "sequenced", "name": "Samples with clinical mutation tests",
                        "description": f"Diagnostic samples tested for BRAF V600E or TERT promoter ({len(samples)} "
                                       "samples)", "category": "all_cases_with_mutation_data"})


def _entity(prefix: str, name: str) -> str:
    return _ENTITY_BAD.sub("_", f"{prefix}_{name}").strip("_")


def _assay(stable_id: str, name: str, description: str, assay_type: str, values: pd.DataFrame,
           entities: dict[str, tuple[str, str, str]]) -> Profile:
    """A LIMIT-VALUE generic assay profile: ``values`` samples × source columns; ``entities`` source
    column → (ENTITY_STABLE_ID, NAME, DESCRIPTION)."""
    cols = [c for c in values.columns if c in entities]
    mat = values[cols].apply(pd.to_numeric, errors="coerce").T
    mat = mat.replace([np.inf, -np.inf], np.nan)
    meta = pd.DataFrame({"ENTITY_STABLE_ID": [entities[c][0] for c in cols],
                         "NAME": [entities[c][1] for c in cols],
                         "DESCRIPTION": [entities[c][2] for c in cols]})
    data = pd.concat([meta.reset_index(drop=True), mat.reset_index(drop=True)], axis=1)
    samples = list(mat.columns)
    return Profile(stable_id, f"data_{stable_id}.txt", {
        "genetic_alteration_type": "GENERIC_ASSAY", "generic_assay_type": assay_type, "datatype": "LIMIT-VALUE",
        "stable_id": stable_id, "profile_name": name, "profile_description": description,
        "show_profile_in_analysis_tab": "true", "generic_entity_meta_properties": "NAME,DESCRIPTION",
        "patient_level": "false"}, data, samples, {
        "suffix": stable_id, "name": f"Samples with {name}", "description": f"{name} ({len(samples)} samples)",
        "category": "other"})


def _read_table(folder: Path, name: str, required: tuple[str, ...] = ("sample_id",)) -> pd.DataFrame | None:
    """``folder/tables/name`` (None when absent); a table without a ``required`` column is an error
    naming the file and the column."""
    p = folder / "tables" / name
    if not p.is_file():
        return None
    try:
        table = pd.read_csv(p)
    except (ValueError, OSError) as exc:
        raise CbioportalExportError(f"{p}: not a readable CSV table ({type(exc).__name__})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CbioportalExportError(f"{p}: no column(s) {', '.join(missing)}")
    return table


_KEYS = {"sample_id", "patient_id", "center_id", "timepoint", "tissue", "cohort", "response", "assay",
         "n_spots"}  # n_spots: slide QC, not a feature


def _sc(omics: OmicsInput, mapping: dict[str, str], notes: Notes) -> list[Profile]:
    out = []
    comp = _read_table(omics.folder, "composition.csv", ("sample_id", "cell_type", "proportion"))
    if comp is not None and not comp.empty:
        wide = comp.pivot_table(index="sample_id", columns="cell_type", values="proportion", aggfunc="first")
        wide = _sample_columns(wide, mapping, notes, "scRNA-seq composition")
        ent = {c: (_entity("sc", c), f"{c} (scRNA-seq)", f"Fraction of the sample's assigned cells that are {c} "
                                                         "(scRNA-seq annotation, latc omics sc run)") for c in wide}
        if not wide.empty:
            out.append(_assay("sc_cell_fraction", "immune and stromal cell fractions (scRNA-seq)",
                              "Cell-type fractions of the assigned cells per sample (latc omics sc run, "
                              "tables/composition.csv)", "IMMUNE_CELL_FRACTION", wide, ent))
    feat = _read_table(omics.folder, "features.csv")
    if feat is not None:
        sig = [c for c in feat.columns if c.startswith("sig__")]
        if sig:
            wide = _sample_columns(feat.set_index("sample_id")[sig], mapping, notes, "scRNA-seq signatures")
            ent = {c: (_entity("sc", c[5:]), f"{c[5:]} (scRNA-seq)", f"Signature score {c[5:]} (latc omics sc run, "
                                                                      "tables/features.csv)") for c in sig}
            if not wide.empty:
                out.append(_assay("sc_signature_scores", "signature scores (scRNA-seq)",
                                  "Per-sample signature scores (latc omics sc run, tables/features.csv sig__*)",
                                  "SIGNATURE_SCORE", wide, ent))
    return out


def _spatial(omics: OmicsInput, mapping: dict[str, str], notes: Notes) -> list[Profile]:
    feat = _read_table(omics.folder, "spatial_features.csv")
    if feat is None or feat.empty:
        return []
    desc = _read_table(omics.folder, "spatial_feature_dictionary.csv", ("column", "description"))
    d = dict(zip(desc["column"], desc["description"])) if desc is not None else {}
    wide = _sample_columns(feat.set_index("sample_id"), mapping, notes, "spatial features")
    numeric = [c for c in wide.columns if c not in _KEYS and pd.api.types.is_numeric_dtype(wide[c])]
    props = [c for c in numeric if c.startswith("prop_")]
    rest = [c for c in numeric if c not in props]
    out = []
    if props:
        ent = {c: (_entity("spatial", c), f"{c[5:]} (spatial deconvolution)", str(d.get(c, c))) for c in props}
        out.append(_assay("spatial_deconvolution", "cell-type fractions (spatial deconvolution)",
                          "Mean cell-type fraction over spots (latc omics spatial run, spatial_features.csv prop_*)",
                          "IMMUNE_CELL_FRACTION", wide, ent))
    if rest:
        ent = {c: (_entity("spatial", c), c, str(d.get(c, c))) for c in rest}
        out.append(_assay("spatial_features", "spatial features",
                          "Spatial immune features per slide (latc omics spatial run, spatial_features.csv)",
                          "SPATIAL_FEATURE", wide, ent))
    return out


_BULK_NAMES = {"tds": ("Thyroid differentiation score (TDS)", "TCGA 2014 thyroid differentiation score"),
               "brs": ("BRAF-RAS score (BRS)", "TCGA 2014 BRAF-RAS score; < 0 BRAF-like"),
               "erk": ("ERK activation score", "TCGA 2014 / Pratilas 2009 ERK output score")}


def _bulk_scores(omics: OmicsInput, mapping: dict[str, str], notes: Notes) -> list[Profile]:
    sc = _read_table(omics.folder, "bulk_scores.csv")
    if sc is None or sc.empty:
        return []
    wide = _sample_columns(sc.set_index("sample_id"), mapping, notes, "bulk scores")
    cols = [c for c in wide.columns if c not in _KEYS and pd.api.types.is_numeric_dtype(wide[c])]
    ent: dict[str, tuple[str, str, str]] = {}
    for c in cols:
        if c in _BULK_NAMES:
            ent[c] = (_entity("bulk", c), *_BULK_NAMES[c])
        else:
            label = c.removeprefix("immune_")
            ent[c] = (_entity("bulk", c), f"{label} (bulk immune score)",
                      f"Immune cell-type / signature score {label} (decoupler ulm on the shipped gene sets)")
    if not cols or wide.empty:
        return []
    return [_assay("bulk_signature_scores", "TDS, BRS, ERK and immune scores (bulk RNA-seq)",
                   "Per-sample scores of latc omics bulk run (tables/bulk_scores.csv)", "SIGNATURE_SCORE", wide, ent)]


def _flow(omics: OmicsInput, mapping: dict[str, str], notes: Notes) -> list[Profile]:
    fl = _read_table(omics.folder, "flow_populations.csv")
    if fl is None or fl.empty:
        return []
    wide = _sample_columns(fl.set_index("sample_id"), mapping, notes, "flow cytometry")
    cols = [c for c in wide.columns if c.endswith("_pct_parent")]
    ent = {c: (_entity("flow", c), f"{c.removesuffix('_pct_parent')} (% of parent)",
               f"{c.removesuffix('_pct_parent')}: % of the parent gate (latc omics flow run)") for c in cols}
    if not cols or wide.empty:
        return []
    return [_assay("flow_populations", "immune populations (flow cytometry, % of parent)",
                   "Gated blood immune populations as % of the parent gate (latc omics flow run)",
                   "IMMUNE_CELL_FRACTION", wide, ent)]


def generic_assay_profiles(omics: OmicsInput, mapping: dict[str, str], notes: Notes) -> list[Profile]:
    """The generic assay profiles of one omics folder (module docstring)."""
    builders = {"sc": _sc, "spatial": _spatial, "bulk": _bulk_scores, "flow": _flow}
    return builders[omics.kind](omics, mapping, notes)
