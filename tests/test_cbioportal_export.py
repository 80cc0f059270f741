"""`latc export cbioportal` (issue #18): the study folder follows cBioPortal's file formats and
holds the derived values.

The rules checked are those of cBioPortal's File-Formats.md (docs/File-Formats.md of
cBioPortal/cbioportal): "Clinical Data" (five header lines, datatypes STRING / NUMBER / BOOLEAN,
integer priorities, upper-case attribute ids, id characters, survival status conventions),
"Timeline Data" (PATIENT_ID, START_DATE, STOP_DATE, EVENT_TYPE first; integer days), "Mutation
Data" (minimal MAF columns), "Expression Data" and Z-Score-normalization-script.md (per-gene z of
log2 values over all samples), "Generic Assay", "Case Lists". One synthetic study (derive + a bulk
RNA-seq folder built from its count files + a small single-cell composition table) is exported once
per module; cBioPortal's own validator runs when LATC_CBIOPORTAL_CORE points to a cbioportal-core
checkout (``scripts/importer/validateData.py``; interpreter ``LATC_CBIOPORTAL_PYTHON``, default this
one — it needs cbioportal-core's requirements.txt).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cbioportal import CbioportalExportError, export_cbioportal
from latc.cbioportal._clinical import ONCOTREE, PATIENT_ATTRIBUTES, patient_value
from latc.cbioportal._timeline import REQUIRED
from latc.cli import app

STUDY = "latc_test"
ID = re.compile(r"^[A-Za-z0-9._-]+$")


# -- the study, exported once ----------------------------------------------------------------------------------------

def _bulk_folder(study: Path, run: Path, out: Path) -> Path:
    """A `latc omics bulk run`-shaped folder from the synthetic count files: adata.h5ad (counts),
    tables/bulk_scores.csv (TDS and ERK of latc.omics.bulk), run.json."""
    from latc.omics.bulk._io import read_bulk
    from latc.omics.bulk._scores import erk_activation_score, normalized_log2, thyroid_differentiation_score

    a = read_bulk(run, root=study)
    out.mkdir(parents=True)
    (out / "tables").mkdir()
    a.write_h5ad(out / "adata.h5ad")
    logx = normalized_log2(a)
    scores = a.obs[["sample_id", "patient_id", "timepoint", "tissue"]].copy()
    scores["tds"] = thyroid_differentiation_score(logx).to_numpy()
    scores["erk"] = erk_activation_score(logx).to_numpy()
    scores.to_csv(out / "tables" / "bulk_scores.csv", index=False)
    (out / "run.json").write_text(json.dumps({"command": "latc omics bulk run"}))
    return out


def _sc_folder(manifest: pd.DataFrame, out: Path) -> Path:
    """A `latc omics sc run`-shaped composition table for the manifest's single-cell samples, plus
    one sample the manifest does not know (to be reported, not exported)."""
    sc = manifest.loc[manifest["assay"] == "scrna_seq", "sample_id"].tolist()
    rows = []
    for k, sid in enumerate(sc + ["C99-9999-BL_TU_SC"]):
        for j, ct in enumerate(["cd8_t_effector", "treg", "macrophage_m2_like"]):
            rows.append({"sample_id": sid, "cell_type": ct, "proportion": (k + 1) * (j + 1) / 100.0})
    out.mkdir(parents=True)
    (out / "tables").mkdir()
    pd.DataFrame(rows).to_csv(out / "tables" / "composition.csv", index=False)
    (out / "run.json").write_text(json.dumps({"command": "latc omics sc run"}))
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from latc.pipeline import derive_path
    from latc.synth import write_synthetic_study

    base = tmp_path_factory.mktemp("cbio")
    write_synthetic_study(base / "s", n_patients=40, n_centers=2, seed=7, omics=["bulk_rna_seq"])
    derive_path(base / "s" / "study", base / "run")
    manifest = pd.read_parquet(base / "run" / "validation" / "clean" / "biospecimens.parquet")
    bulk = _bulk_folder(base / "s" / "study", base / "run", base / "bulk")
    sc = _sc_folder(manifest, base / "sc")
    res = export_cbioportal(base / "run", base / "out", omics=[bulk, sc], study_id=STUDY)
    return {"base": base, "run": base / "run", "out": base / "out", "res": res, "bulk": bulk, "sc": sc,
            "manifest": manifest, "subject": pd.read_parquet(base / "run" / "derived" / "subject.parquet")}


def _meta(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(": ")
        out[key] = value
    return out


def _clinical(path: Path) -> tuple[list[list[str]], pd.DataFrame]:
    lines = path.read_text(encoding="utf-8").split("\n")
    header = [line[1:].split("\t") for line in lines[:4]]
    data = pd.read_csv(path, sep="\t", skiprows=4, dtype=str, keep_default_na=False)
    return header, data


def _tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _specimen_id(row) -> str:
    """The exported SAMPLE_ID of a manifest row (docs/cbioportal.md: patient-TP_TISSUE)."""
    tp = {"baseline": "BL", "on_treatment": "OT", "surgery": "SX", "follow_up": "FU"}[row["timepoint"]]
    return f"{row['patient_id']}-{tp}_" + {"tumour": "TU", "lymph_node": "LN", "blood": "PB"}[row["tissue"]]


def _num(values) -> np.ndarray:
    return np.array([np.nan if v in ("", "NA") else float(v) for v in values])


# -- layout -----------------------------------------------------------------------------------------------------------

def test_every_meta_file_names_its_data_file_and_the_study(study):
    out = study["out"]
    ms = _meta(out / "meta_study.txt")
    assert ms["type_of_cancer"] == "thyroid" and ms["cancer_study_identifier"] == STUDY
    assert ms["name"] and ms["description"] and ms["citation"]
    assert not (out / "cancer_type.txt").exists()  # THYROID and its subtypes exist in every portal
    metas = sorted(out.glob("meta_*.txt"))
    assert len(metas) >= 10
    named = set()
    for m in metas:
        if m.name == "meta_study.txt":
            continue
        fields = _meta(m)
        assert fields["cancer_study_identifier"] == STUDY, m.name
        assert (out / fields["data_filename"]).is_file(), m.name
        named.add(fields["data_filename"])
    assert named == {p.name for p in out.glob("data_*.txt")}  # no orphan data file
    assert {"data_timeline_treatment.txt", "data_timeline_surgery.txt", "data_timeline_imaging.txt",
            "data_timeline_labs.txt", "data_timeline_status.txt", "data_timeline_specimen.txt",
            "data_mutations.txt", "data_mrna_seq_expression.txt", "data_mrna_seq_expression_zscores.txt",
            "data_sc_cell_fraction.txt", "data_bulk_signature_scores.txt"} <= named


def test_case_lists_all_and_one_per_profile(study):
    out = study["out"]
    _, samples = _clinical(out / "data_clinical_sample.txt")
    lists = {p.name: _meta(p) for p in (out / "case_lists").glob("*.txt")}
    assert set(lists["cases_all.txt"]["case_list_ids"].split("\t")) == set(samples["SAMPLE_ID"])
    for name, cl in lists.items():
        assert cl["stable_id"] == f"{STUDY}_{name.removeprefix('cases_').removesuffix('.txt')}"
        assert cl["cancer_study_identifier"] == STUDY
        assert set(cl["case_list_ids"].split("\t")) <= set(samples["SAMPLE_ID"]), name
    assert lists["cases_sequenced.txt"]["case_list_category"] == "all_cases_with_mutation_data"
    assert lists["cases_rna_seq_mrna.txt"]["case_list_category"] == "all_cases_with_mrna_rnaseq_data"
    profiles = [_meta(m) for m in out.glob("meta_*.txt") if _meta(m).get("genetic_alteration_type") == "GENERIC_ASSAY"]
    assert profiles and all(f"cases_{p['stable_id']}.txt" in lists for p in profiles)


@pytest.mark.parametrize("level", ["patient", "sample"])
def test_clinical_header_follows_the_format(study, level):
    path = study["out"] / f"data_clinical_{level}.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    assert all(line.startswith("#") for line in lines[:4]) and not lines[4].startswith("#")
    header, data = _clinical(path)
    ids = list(data.columns)
    assert all(len(h) == len(ids) for h in header)
    names, descriptions, datatypes, priorities = header
    assert all(n.strip() and d.strip() for n, d in zip(names, descriptions))
    assert set(datatypes) <= {"STRING", "NUMBER", "BOOLEAN"}
    assert all(re.fullmatch(r"-?\d+", p) and int(p) >= -1 for p in priorities)
    assert all(i == i.upper() and re.fullmatch(r"[A-Z][A-Z0-9_]*", i) for i in ids)
    assert len(set(ids)) == len(ids)
    for col, dt in zip(ids, datatypes):
        values = [v for v in data[col] if v not in ("", "NA")]
        if dt == "NUMBER":
            assert all(math.isfinite(float(v)) for v in values), col
        if dt == "BOOLEAN":
            assert set(values) <= {"TRUE", "FALSE"}, col
    dt = dict(zip(ids, datatypes))
    if level == "patient":
        assert "SAMPLE_ID" not in ids and ids[0] == "PATIENT_ID"
        assert dt["AGE"] == "NUMBER" and dt["OS_MONTHS"] == "NUMBER" and dt["OS_STATUS"] == "STRING"
        assert data["PATIENT_ID"].is_unique
    else:
        assert {"SAMPLE_ID", "PATIENT_ID", "CANCER_TYPE", "ONCOTREE_CODE"} <= set(ids)
        assert data["SAMPLE_ID"].is_unique


def test_ids_use_allowed_characters_and_link_samples_to_patients(study):
    from latc.dictionary import load_dictionary

    out = study["out"]
    _, patients = _clinical(out / "data_clinical_patient.txt")
    _, samples = _clinical(out / "data_clinical_sample.txt")
    pattern = load_dictionary().patterns["patient_id_pattern"]
    assert all(re.match(pattern, p) for p in patients["PATIENT_ID"])  # pseudonymous ids only
    assert all(ID.match(s) and len(s) <= 63 for s in samples["SAMPLE_ID"])
    assert set(samples["PATIENT_ID"]) == set(patients["PATIENT_ID"]) == set(study["subject"]["patient_id"])
    assert (samples["SAMPLE_ID"] == samples["PATIENT_ID"] + "-DX").sum() == len(patients)  # one diagnostic each


# -- values -----------------------------------------------------------------------------------------------------------

def test_survival_columns_follow_the_portal_conventions_and_the_derived_endpoints(study):
    _, p = _clinical(study["out"] / "data_clinical_patient.txt")
    s = study["subject"].set_index("patient_id").loc[p["PATIENT_ID"]]
    assert set(p["OS_STATUS"]) <= {"0:LIVING", "1:DECEASED", "NA"}
    assert set(p["DFS_STATUS"]) <= {"0:DiseaseFree", "1:Recurred/Progressed", "NA"}
    for col in p.columns:
        if col.endswith("_STATUS") and col.removesuffix("_STATUS") + "_MONTHS" in p.columns:
            assert all(v == "NA" or v[:2] in ("0:", "1:") for v in p[col]), col
    os_event = s["os_event"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    assert ((p["OS_STATUS"] == "1:DECEASED").to_numpy() == (os_event == 1)).all()
    assert (p["OS_STATUS"] == "1:DECEASED").sum() >= 1
    np.testing.assert_allclose(_num(p["OS_MONTHS"]), s["os_time_months"].to_numpy(dtype=float, na_value=np.nan),
                               atol=1e-6)
    rfs = s["rfs_event"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    assert ((p["DFS_STATUS"] == "1:Recurred/Progressed").to_numpy() == (rfs == 1)).all()
    assert ((p["DFS_STATUS"] == "NA").to_numpy() == np.isnan(rfs)).all()
    np.testing.assert_allclose(_num(p["DFS_MONTHS"]), s["rfs_time_months"].to_numpy(dtype=float, na_value=np.nan),
                               atol=1e-6)


def test_patient_attributes_round_trip_to_the_subject_dataset(study):
    header, p = _clinical(study["out"] / "data_clinical_patient.txt")
    datatypes = dict(zip(p.columns, header[2]))
    s = study["subject"].set_index("patient_id").loc[p["PATIENT_ID"]]
    checked = 0
    for spec in PATIENT_ATTRIBUTES:
        aid = spec.attribute.id
        expected = [patient_value(spec, v) for v in s[spec.source].tolist()]
        got = p[aid].tolist()
        if datatypes[aid] == "NUMBER":
            np.testing.assert_allclose(_num(got), np.array([np.nan if e is None or pd.isna(e) else float(e)
                                                            for e in expected]), atol=1e-6, err_msg=aid)
        elif datatypes[aid] == "BOOLEAN":
            assert got == ["NA" if e is None else ("TRUE" if e else "FALSE") for e in expected], aid
        else:
            assert got == ["NA" if e is None or (not isinstance(e, str) and pd.isna(e)) else str(e)
                           for e in expected], aid
        checked += 1
    assert checked == len(PATIENT_ATTRIBUTES)
    # the labels say what the codes mean
    back = {"Neoadjuvant therapy": "neoadjuvant", "Upfront surgery": "upfront_surgery"}
    assert [back[v] for v in p["COHORT"]] == s["cohort"].tolist()
    assert p["AGE"].astype(int).tolist() == s["age_at_diagnosis"].astype(int).tolist()
    assert set(p["RESECTION_STATUS"]) - {"NA"} <= {"R0", "R1", "R2"}


def test_samples_carry_the_oncotree_code_of_the_histology(study):
    _, samples = _clinical(study["out"] / "data_clinical_sample.txt")
    hist = study["subject"].set_index("patient_id")["histology"]
    expected = samples["PATIENT_ID"].map(lambda pid: ONCOTREE[hist[pid]][0])
    assert (samples["ONCOTREE_CODE"] == expected).all()
    assert set(samples["ONCOTREE_CODE"]) <= {"THPA", "THFO", "THHC", "THPD", "THAP", "THME"}
    assert (samples["CANCER_TYPE"] == "Thyroid Cancer").all()


def test_one_sample_per_biospecimen(study):
    _, samples = _clinical(study["out"] / "data_clinical_sample.txt")
    m = study["manifest"]
    specimens = m.groupby(["patient_id", "timepoint", "tissue", "collection_date"]).ngroups
    assert (samples["TIMEPOINT"] != "Diagnosis").sum() == specimens
    decision = study["subject"].set_index("patient_id")["treatment_decision_date"]
    row = m.iloc[0]
    got = samples.set_index("SAMPLE_ID").loc[_specimen_id(row)]
    assert int(got["COLLECTION_DAY"]) == (pd.Timestamp(row["collection_date"]) - decision[row["patient_id"]]).days


def test_timelines_have_the_required_columns_and_integer_days(study):
    out = study["out"]
    _, patients = _clinical(out / "data_clinical_patient.txt")
    files = sorted(out.glob("data_timeline_*.txt"))
    assert len(files) == 6
    for f in files:
        t = _tsv(f)
        assert list(t.columns[:4]) == REQUIRED, f.name
        assert t["START_DATE"].str.fullmatch(r"-?\d+").all(), f.name
        assert t["STOP_DATE"].str.fullmatch(r"(-?\d+)?").all(), f.name
        both = t["STOP_DATE"] != ""
        assert (t.loc[both, "STOP_DATE"].astype(int) >= t.loc[both, "START_DATE"].astype(int)).all(), f.name
        assert set(t["PATIENT_ID"]) <= set(patients["PATIENT_ID"]), f.name
        assert t["EVENT_TYPE"].ne("").all()


def test_timeline_values_round_trip_to_the_study_tables(study):
    out, run = study["out"], study["run"]
    decision = study["subject"].set_index("patient_id")["treatment_decision_date"]
    tr = pd.read_parquet(run / "validation" / "clean" / "treatments.parquet")
    t = _tsv(out / "data_timeline_treatment.txt")
    neo = t[t["PHASE"] == "Neoadjuvant"]
    assert len(neo) == len(tr)
    exp_start = sorted(zip(tr["patient_id"], (tr["start_date"] - tr["patient_id"].map(decision)).dt.days))
    assert sorted(zip(neo["PATIENT_ID"], neo["START_DATE"].astype(int))) == exp_start
    labs = pd.read_parquet(run / "derived" / "labs.parquet")
    tg = labs[labs["test"] == "tg"].sort_values(["patient_id", "lab_date"])
    lt = _tsv(out / "data_timeline_labs.txt")
    lt_tg = lt[lt["TEST"] == "Tg"]
    assert len(lt_tg) == len(tg)
    np.testing.assert_allclose(np.sort(lt_tg["RESULT"].astype(float)), np.sort(tg["value"].to_numpy()), rtol=1e-6)
    assert "tsh" not in set(lt["TEST"].str.lower())
    fu = pd.read_parquet(run / "validation" / "clean" / "follow_up.parquet")
    st = _tsv(out / "data_timeline_status.txt")
    assert (st["STATUS"] == "Death").sum() == fu.loc[fu["vital_status"] == "dead", "patient_id"].nunique()
    sp = _tsv(out / "data_timeline_specimen.txt")
    _, samples = _clinical(out / "data_clinical_sample.txt")
    assert set(sp["SAMPLE_ID"]) == set(samples["SAMPLE_ID"])
    im = _tsv(out / "data_timeline_imaging.txt")
    tumour = pd.read_parquet(run / "derived" / "tumour.parquet")
    assert (im["DIAGNOSTIC_TYPE"] == "RECIST 1.1 assessment").sum() >= len(tumour)
    assert set(im["RESULT"]) >= set(tumour["overall_response"].dropna())


# -- molecular --------------------------------------------------------------------------------------------------------

def test_mutations_are_a_minimal_maf_of_the_clinical_findings(study):
    out = study["out"]
    maf = _tsv(out / "data_mutations.txt")
    assert {"Hugo_Symbol", "Tumor_Sample_Barcode", "Variant_Classification", "HGVSp_Short", "NCBI_Build",
            "Chromosome", "Start_Position", "End_Position", "Reference_Allele", "Tumor_Seq_Allele2"} <= set(maf.columns)
    s = study["subject"]
    braf = maf[maf["Hugo_Symbol"] == "BRAF"]
    assert set(braf["Tumor_Sample_Barcode"]) == {f"{p}-DX" for p in s.loc[s["braf_v600e"] == "positive", "patient_id"]}
    assert len(braf) and (braf["HGVSp_Short"] == "p.V600E").all() and (braf["Start_Position"] == "140453136").all()
    assert (braf[["Reference_Allele", "Tumor_Seq_Allele2"]].to_numpy() == ["A", "T"]).all()
    tert = maf[maf["Hugo_Symbol"] == "TERT"]
    tert_positive = s.loc[s["tert_promoter"] == "positive", "patient_id"]
    assert set(tert["Tumor_Sample_Barcode"]) == {f"{p}-DX" for p in tert_positive}
    assert (tert["Variant_Classification"] == "5'Flank").all()
    assert set(maf["Hugo_Symbol"]) == {"BRAF", "TERT"} or tert.empty  # no record for an unnamed RAS gene
    seq = _meta(out / "case_lists" / "cases_sequenced.txt")["case_list_ids"].split("\t")
    tested = s.loc[s["braf_v600e"].isin(["positive", "negative"]) | s["tert_promoter"].isin(["positive", "negative"]),
                   "patient_id"]
    assert set(seq) == {f"{p}-DX" for p in tested}
    if (s["ras"] == "positive").any():
        assert any("RAS" in n for n in study["res"].notes)


def test_expression_and_zscores_follow_the_documented_formula(study):
    import anndata as ad

    out, res = study["out"], study["res"]
    cont = _tsv(out / "data_mrna_seq_expression.txt").set_index("Hugo_Symbol").astype(float)
    z = _tsv(out / "data_mrna_seq_expression_zscores.txt").set_index("Hugo_Symbol")
    z = z.replace("NA", np.nan).astype(float)
    assert list(cont.columns) == list(z.columns) and len(cont) == len(z) == 5000
    a = ad.read_h5ad(study["bulk"] / "adata.h5ad")
    counts = pd.DataFrame(np.asarray(a.layers["counts"], dtype=float), index=a.obs["sample_id"].astype(str),
                          columns=a.var_names)
    # median-of-ratios (DESeq2) over genes expressed in every sample
    expressed = (counts > 0).all(axis=0)
    logc = np.log(counts.loc[:, expressed])
    sf = np.exp((logc.sub(logc.mean(axis=0), axis=1)).median(axis=1))
    norm = counts.div(sf, axis=0)
    obs = a.obs.set_index("sample_id")
    mapping = {sid: _specimen_id(obs.loc[sid]) for sid in norm.index}
    assert sorted(mapping.values()) == sorted(cont.columns)  # every bulk sample on its biospecimen's column
    exact = norm.T.rename(columns=mapping)[list(cont.columns)]
    np.testing.assert_allclose(cont.to_numpy(), exact.to_numpy(), rtol=1e-5)
    logx = np.log2(exact + 1.0)
    expected = logx.sub(logx.mean(axis=1), axis=0).div(logx.std(axis=1, ddof=1).replace(0, np.nan), axis=0)
    np.testing.assert_allclose(z.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-5)
    finite = z.dropna()
    np.testing.assert_allclose(finite.mean(axis=1), 0, atol=1e-4)
    assert res.counts["profiles"]["rna_seq_mrna"] == len(cont.columns)


def test_generic_assay_holds_the_fractions_and_reports_unknown_samples(study):
    out = study["out"]
    meta = _meta(out / "meta_sc_cell_fraction.txt")
    assert meta["genetic_alteration_type"] == "GENERIC_ASSAY" and meta["datatype"] == "LIMIT-VALUE"
    assert meta["generic_entity_meta_properties"] == "NAME,DESCRIPTION"
    ga = _tsv(out / "data_sc_cell_fraction.txt")
    assert list(ga.columns[:3]) == ["ENTITY_STABLE_ID", "NAME", "DESCRIPTION"]
    assert ga["ENTITY_STABLE_ID"].str.fullmatch(r"[A-Za-z0-9_.-]+").all() and ga["ENTITY_STABLE_ID"].is_unique
    comp = pd.read_csv(study["sc"] / "tables" / "composition.csv")
    m = study["manifest"].set_index("sample_id")
    first = comp["sample_id"].iloc[0]
    sid = _specimen_id(m.loc[first])
    got = ga.set_index("ENTITY_STABLE_ID").loc["sc_treg", sid]
    assert float(got) == pytest.approx(comp[(comp["sample_id"] == first) & (comp["cell_type"] == "treg")]
                                       ["proportion"].iloc[0])
    assert "C99-9999" not in " ".join(ga.columns)
    assert any("not in the validated biospecimen manifest" in n and "C99-9999-BL_TU_SC" in n
               for n in study["res"].notes)


# -- privacy and safety -----------------------------------------------------------------------------------------------

def test_no_dates_paths_or_formulas_in_the_study_files(study):
    out = study["out"]
    files = [p for p in out.rglob("*.txt")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in files if p.name != "meta_study.txt")
    date = r"\b(19|20)\d\d-\d\d-\d\d\b"
    assert not re.search(date, text)  # no calendar date of a patient, only days from time zero
    study_dates = re.findall(r"\d{4}-\d\d-\d\d", (out / "meta_study.txt").read_text())
    assert len(study_dates) <= 1 and "data cut " + study_dates[0] in (out / "meta_study.txt").read_text()
    assert "omics/" not in text and str(study["base"]) not in text  # no file references
    for p in files:
        if p.name.startswith(("data_clinical", "data_timeline")):
            for line in p.read_text(encoding="utf-8").splitlines()[5 if "clinical" in p.name else 1:]:
                for v in line.split("\t"):
                    number = re.fullmatch(r"-\d+(\.\d+)?(e-?\d+)?", v)
                    assert not ((v[:1] and v[:1] in "=+@") or (v[:1] == "-" and not number)), (p.name, v)


def test_identifier_like_text_and_formulas_are_neutralised_and_reported(study, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(study["run"] / "derived", run / "derived")
    shutil.copytree(study["run"] / "validation" / "clean", run / "validation" / "clean")
    s = pd.read_parquet(run / "derived" / "subject.parquet")
    s.loc[0, "ecog"] = "=HYPERLINK(\"http://x\")"
    s.loc[1, "biochemical_marker"] = "call 0791 234 567"
    s.loc[2, "histology_subtype"] = "tall\tcell\nvariant"
    s.to_parquet(run / "derived" / "subject.parquet")
    res = export_cbioportal(run, tmp_path / "out", study_id=STUDY)
    _, p = _clinical(tmp_path / "out" / "data_clinical_patient.txt")
    assert p.loc[0, "ECOG"] == "'=HYPERLINK(\"http://x\")"
    assert p.loc[1, "BIOCHEMICAL_MARKER"] == "NA"
    assert "0791" not in (tmp_path / "out" / "data_clinical_patient.txt").read_text()
    assert any("BIOCHEMICAL_MARKER" in n and "identifier" in n for n in res.notes)
    assert p.loc[2, "HISTOLOGY_SUBTYPE"] == "Tall cell variant"  # a tab or line break would break the row
    assert any("tab, line break" in n for n in res.notes)


def test_a_non_pseudonymous_patient_id_stops_the_export(study, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(study["run"] / "derived", run / "derived")
    s = pd.read_parquet(run / "derived" / "subject.parquet")
    s.loc[0, "patient_id"] = "ZHANG.Wei"
    s.to_parquet(run / "derived" / "subject.parquet")
    with pytest.raises(CbioportalExportError, match="pseudonymous"):
        export_cbioportal(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- command line -----------------------------------------------------------------------------------------------------

def test_cli_writes_the_study_and_replaces_an_earlier_export(study, tmp_path):
    runner = CliRunner()
    out = tmp_path / "o"
    r = runner.invoke(app, ["export", "cbioportal", str(study["run"]), "--out", str(out), "--study-id", "t1"])
    assert r.exit_code == 0, r.output
    assert "patients" in r.output and (out / "latc_export.json").is_file()
    rec = json.loads((out / "latc_export.json").read_text())
    assert rec["parameters"]["study_id"] == "t1" and rec["inputs"]["run"]
    r = runner.invoke(app, ["export", "cbioportal", str(study["run"]), "--out", str(out), "--study-id", "t2"])
    assert r.exit_code == 0, r.output
    assert _meta(out / "meta_study.txt")["cancer_study_identifier"] == "t2"
    assert not (out / "data_mutations.txt").read_text().count("t1")


@pytest.mark.parametrize("case", ["no_run", "no_column", "bad_study_id", "not_omics", "omics_column", "foreign_out"])
def test_cli_bad_input_is_one_line_naming_file_and_field(study, tmp_path, case):
    run = study["run"]
    args = ["export", "cbioportal", str(run), "--out", str(tmp_path / "o")]
    expect = ""
    if case == "no_run":
        args[2], expect = str(tmp_path / "nope"), "nope"
    elif case == "no_column":
        (tmp_path / "r" / "derived").mkdir(parents=True)
        study["subject"].drop(columns=["treatment_decision_date"]).to_parquet(tmp_path / "r" / "derived" /
                                                                               "subject.parquet")
        args[2], expect = str(tmp_path / "r"), "subject.parquet: no column(s) treatment_decision_date"
    elif case == "bad_study_id":
        args += ["--study-id", "My Study"]
        expect = "--study-id"
    elif case == "not_omics":
        args += ["--omics", str(run)]
        expect = "run.json"
    elif case == "omics_column":
        sc = tmp_path / "sc"
        shutil.copytree(study["sc"], sc)
        pd.read_csv(sc / "tables" / "composition.csv").drop(columns=["proportion"]).to_csv(
            sc / "tables" / "composition.csv", index=False)
        args += ["--omics", str(sc)]
        expect = "composition.csv: no column(s) proportion"
    else:
        (tmp_path / "o").mkdir()
        (tmp_path / "o" / "keep.txt").write_text("x")
        expect = "not empty"
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert expect in r.output and "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) <= 3  # one message (rich may wrap it)


# -- cBioPortal's own validator (optional) ----------------------------------------------------------------------------

def test_cbioportal_validator_accepts_the_study(study):
    core = os.environ.get("LATC_CBIOPORTAL_CORE")
    if not core:
        pytest.skip("LATC_CBIOPORTAL_CORE is not set (path to a cbioportal-core checkout with "
                    "scripts/importer/validateData.py)")
    script = Path(core) / "scripts" / "importer" / "validateData.py"
    if not script.is_file():
        pytest.skip(f"{script} not found")
    python = os.environ.get("LATC_CBIOPORTAL_PYTHON", sys.executable)
    r = subprocess.run([python, script.name, "-s", str(study["out"]), "-n"], cwd=script.parent,
                       capture_output=True, text=True, timeout=600)
    log = r.stdout + r.stderr
    errors = [line for line in log.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
    assert not errors, "\n".join(errors[:20])
    assert r.returncode in (0, 3), log[-2000:]  # 0: valid; 3: valid with warnings (docs/cbioportal.md)
