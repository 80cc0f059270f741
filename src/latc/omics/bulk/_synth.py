"""Synthetic bulk RNA-seq counts with planted, documented signals (assay ``bulk_rna_seq``).

Negative-binomial counts (DESeq2's model) for every manifest sample with a ``file_ref``, one TSV
per sample (``gene_id<TAB>count``) at the manifest's path. Genes: every TDS/BRS/ERK, immune and
sex-check gene plus synthetic filler genes ``SYNG#####`` up to ``n_genes`` (default 5,000 ×
``scale``, at most 20,000). Planted signals, all recorded in ``truth["omics"]["bulk_rna_seq"]``:

* **response genes** — filler genes with log2FC ±0.8–1.5 in responders (``objective_response_latent``
  of neoadjuvant patients; a patient-level trait, present at every timepoint);
* **treatment genes** — filler genes with log2FC ±0.8–1.5 after treatment start (on-treatment and
  surgery samples of neoadjuvant patients) vs baseline;
* **TDS** — the 16 genes lower in BRAF^V600E tumours (−1 log2) and much lower in PDTC/ATC (−2.5);
* **BRS** — the first 13 genes of the TCGA 2014 list (ANKRD46 … SORBS2) higher in RAS-mutant and
  lower in BRAF-mutant tumours (±0.8 log2), the other 58 the reverse. This split is an assumption
  of the simulator (the TCGA heatmap orders the list in two alphabetical blocks); the BRS itself
  never uses it;
* **ERK** — set A +0.8 log2 and set B −0.8 log2 in BRAF^V600E tumours (+0.3 / −0.3 in RAS);
* **immune** — cytotoxic, CD8, T-cell and IFN-γ genes +0.6 log2 in responders at baseline and
  +1.0 more after treatment start;
* **QC** — with ≥ 20 samples, one degraded outlier library and one sample whose sex genes are
  those of the other sex (a sample swap), listed by sample id.

A patient random effect (N(0, 0.3²) log2 per gene, shared across the patient's samples) makes the
paired design matter, as it does in real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from latc.omics.bulk._scores import immune_gene_sets, thyroid_score_genes

SEX_GENES = ["XIST", "RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY"]
IMMUNE_UP = ["Cytotoxic_cells", "CD8_T_cells", "T_cells", "IFNG_6", "CYT"]


def gene_universe(n_genes: int = 5000) -> list[str]:
    """Score, immune and sex-check genes first, then filler genes ``SYNG00001`` … up to ``n_genes``."""
    named: list[str] = []
    for s in ("TDS", "BRS", "ERK"):
        named += list(thyroid_score_genes(s)["gene"])
    named += list(immune_gene_sets()["target"]) + SEX_GENES
    named = list(dict.fromkeys(named))
    n_fill = max(0, n_genes - len(named))
    return named + [f"SYNG{i:05d}" for i in range(1, n_fill + 1)]


def simulate_bulk(samples: pd.DataFrame, *, n_genes: int = 5000, seed: int = 0, n_response_genes: int = 100,
                  n_treatment_genes: int = 80, lfc_range: tuple[float, float] = (0.8, 1.5),
                  patient_sd: float = 0.3, depth: float = 2e7, plant_qc: bool | None = None,
                  thyroid_signals: bool = True, immune_signals: bool = True,
                  disp_scatter: float = 0.3) -> tuple[pd.DataFrame, dict]:
    """Counts (samples × genes) for ``samples`` and the planted truth.

    ``samples`` columns: ``sample_id, patient_id``; optional ``responder`` (bool / NA),
    ``post_treatment`` (bool), ``braf`` and ``ras`` (bool), ``histology``, ``sex`` (female/male).
    With ``n_response_genes = n_treatment_genes = 0`` and signals off this is a null dataset.
    """
    rng = np.random.default_rng(seed)
    s = samples.reset_index(drop=True)
    n = len(s)
    genes = gene_universe(n_genes)
    G = len(genes)
    col = {g: j for j, g in enumerate(genes)}
    flag = lambda name: s[name].fillna(False).astype(bool).to_numpy().copy() if name in s else np.zeros(n, bool)  # noqa: E731
    responder, post = flag("responder"), flag("post_treatment")
    braf, ras = flag("braf"), flag("ras")
    ras &= ~braf
    histology = s["histology"].astype(str).to_numpy() if "histology" in s else np.full(n, "ptc")
    sex = s["sex"].astype(str).to_numpy() if "sex" in s else rng.choice(["female", "male"], n)

    base = rng.normal(6.0, 2.2, G)  # log2 mean expression at 20 M reads
    logmu = np.repeat(base[None, :], n, axis=0)
    patients, pidx = np.unique(s["patient_id"].astype(str), return_inverse=True)
    logmu += rng.normal(0.0, patient_sd, (len(patients), G))[pidx]

    filler = np.array([j for g, j in col.items() if g.startswith("SYNG")])
    chosen = rng.permutation(filler)
    resp_idx = chosen[:n_response_genes]
    treat_idx = chosen[n_response_genes:n_response_genes + n_treatment_genes]
    resp_lfc = rng.uniform(*lfc_range, len(resp_idx)) * rng.choice([-1, 1], len(resp_idx))
    treat_lfc = rng.uniform(*lfc_range, len(treat_idx)) * rng.choice([-1, 1], len(treat_idx))
    logmu[np.ix_(responder, resp_idx)] += resp_lfc
    logmu[np.ix_(post, treat_idx)] += treat_lfc

    truth: dict = {}
    if thyroid_signals:
        tds = [col[g] for g in thyroid_score_genes("TDS")["gene"]]
        dediff = np.where(np.isin(histology, ["pdtc", "atc"]), -2.5, 0.0) + np.where(braf, -1.0, 0.0)
        logmu[:, tds] += dediff[:, None]
        brs = list(thyroid_score_genes("BRS")["gene"])
        ras_block, braf_block = [col[g] for g in brs[:13]], [col[g] for g in brs[13:]]
        sign = np.where(braf, -1.0, np.where(ras, 1.0, 0.0)) * 0.8
        logmu[:, ras_block] += sign[:, None]
        logmu[:, braf_block] -= sign[:, None]
        erk = thyroid_score_genes("ERK")
        erk_cols = np.array([col[g] for g in erk["gene"]])
        erk_shift = np.where(braf, 0.8, np.where(ras, 0.3, 0.0))
        logmu[:, erk_cols] += erk_shift[:, None] * erk["weight"].to_numpy()[None, :]
        truth["thyroid_signals"] = {
            "tds_log2_shift": {"braf_v600e": -1.0, "pdtc_or_atc": -2.5},
            "brs_log2_shift": {"ras_block_genes": brs[:13], "ras_mutant": +0.8, "braf_mutant": -0.8,
                               "note": "other 58 BRS genes shifted the opposite way; block split is a simulator assumption"},
            "erk_log2_shift": {"braf_v600e": 0.8, "ras": 0.3, "set_B_sign": -1},
        }
    if immune_signals:
        net = immune_gene_sets()
        imm = sorted({col[g] for g in net.loc[net["source"].isin(IMMUNE_UP), "target"]})
        shift = np.where(responder, 0.6, 0.0) + np.where(responder & post, 1.0, 0.0)
        logmu[:, imm] += shift[:, None]
        truth["immune_signals"] = {"gene_sets": IMMUNE_UP, "responder_baseline_log2": 0.6, "responder_post_extra_log2": 1.0}

    female = sex == "female"
    qc: dict = {"outlier_samples": [], "sex_swapped_samples": []}
    if plant_qc or (plant_qc is None and n >= 20):
        swap, outlier = rng.choice(n, 2, replace=False)
        female = female.copy()
        female[swap] = not female[swap]
        qc = {"outlier_samples": [str(s["sample_id"][outlier])], "sex_swapped_samples": [str(s["sample_id"][swap])]}
    else:
        outlier = None
    logmu[:, col["XIST"]] = np.where(female, 10.0, -2.0)
    for g in SEX_GENES[1:]:
        logmu[:, col[g]] = np.where(female, -3.0, 8.0 + rng.normal(0, 0.3))
    if outlier is not None:  # degraded library: gene-wise noise of ~1.5 log2
        logmu[outlier] += rng.normal(0.0, 1.5, G)

    sf = rng.lognormal(0.0, 0.25, n) * depth / 2e7
    mu = np.exp2(logmu) * sf[:, None]
    mean_g = np.exp2(base)
    alpha = (0.04 + 2.0 / mean_g) * rng.lognormal(0.0, disp_scatter, G)
    r = 1.0 / alpha
    counts = rng.negative_binomial(r[None, :], r[None, :] / (r[None, :] + mu))
    df = pd.DataFrame(counts.astype(np.int64), index=pd.Index(s["sample_id"].astype(str), name="sample_id"),
                      columns=pd.Index(genes, name="gene"))
    truth.update({
        "n_samples": int(n), "n_genes": int(G),
        "response_genes": {genes[j]: round(float(v), 4) for j, v in zip(resp_idx, resp_lfc)},
        "treatment_genes": {genes[j]: round(float(v), 4) for j, v in zip(treat_idx, treat_lfc)},
        **qc,
    })
    return df, truth


def study_samples(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The per-sample simulation inputs joined from the manifest, latent truth and study tables."""
    m = manifest[["sample_id", "patient_id", "timepoint", "tissue"]].copy()
    lat = latent.set_index("patient_id")
    neo = lat["cohort"].astype(str).reindex(m["patient_id"]).to_numpy() == "neoadjuvant"
    orl = pd.to_numeric(lat["objective_response_latent"], errors="coerce").reindex(m["patient_id"]).to_numpy()
    m["responder"] = pd.array(np.where(neo & ~np.isnan(orl), orl == 1, pd.NA), dtype="boolean")
    m["post_treatment"] = neo & m["timepoint"].isin(["on_treatment", "surgery"]).to_numpy()
    m["braf"] = pd.to_numeric(lat["braf_v600e_true"], errors="coerce").reindex(m["patient_id"]).fillna(0).to_numpy() == 1
    dx = tables.get("diagnosis")
    if dx is not None and len(dx):
        d = dx.drop_duplicates("patient_id").set_index("patient_id")
        m["histology"] = d["histology"].astype(str).reindex(m["patient_id"]).to_numpy()
        m["ras"] = (d["ras"].astype(str).reindex(m["patient_id"]) == "positive").to_numpy() if "ras" in d else False
    pt = tables.get("patients")
    if pt is not None and len(pt):
        m["sex"] = pt.drop_duplicates("patient_id").set_index("patient_id")["sex"].astype(str).reindex(m["patient_id"]).to_numpy()
    return m


def write_bulk(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict[str, pd.DataFrame], study_dir: Path,
               *, seed: int, scale: float) -> dict:
    """Registry writer (``latc synth --omics bulk_rna_seq``): one ``gene_id<TAB>count`` TSV per sample."""
    rows = manifest[manifest["file_ref"].notna()].reset_index(drop=True)
    if rows.empty:
        return {"n_samples": 0}
    n_genes = int(min(20000, max(1000, round(5000 * scale))))
    ss = np.random.SeedSequence([int(seed), 0xB01C])
    samples = study_samples(rows, latent, tables)
    counts, truth = simulate_bulk(samples, n_genes=n_genes, seed=int(ss.generate_state(1)[0]))
    genes = counts.columns.to_numpy(dtype=object)
    study_dir = Path(study_dir)
    for ref, (_, vec) in zip(rows["file_ref"], counts.iterrows()):
        path = study_dir / str(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(f"{g}\t{c}" for g, c in zip(genes, vec.to_numpy()))
        path.write_text("gene_id\tcount\n" + body + "\n", encoding="utf-8")
    truth["file_format"] = "one TSV per sample: gene_id<TAB>count (raw counts)"
    truth["responder_definition"] = "objective_response_latent == 1 among neoadjuvant patients (upfront: no response)"
    truth["n_responder_samples"] = int(samples["responder"].fillna(False).sum())
    return truth
