"""T-cell clonotypes (``latc.omics.sc._tcr``): readers on scirpy's bundled real data, planted-truth
recovery on synthetic TCR, clone tracking on a hand-built example, bad input."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics._manifest import SampleRefused
from latc.omics._outcomes import load_outcomes
from latc.omics.sc import (
    clonal_overlap,
    define_clones,
    morisita_horn,
    read_tcr,
    read_vdj,
    run_tcr,
    simulate_tcr,
    tcr_step,
    vdj_path_for,
    write_tcr_outputs,
    write_vdj,
)
from latc.omics.sc._tcr import check_contigs, jaccard, vdj_companion
from latc.omics.sc._tcr_synth import write_contigs

ir = pytest.importorskip("scirpy")
DATA = Path(ir.__file__).parent / "tests" / "data"
TENX = DATA / "10x"
PBMC3 = TENX / "vdj_nextgem_hs_pbmc3_t_filtered_contig_annotations.csv.gz"
SAMPLE = {"sample_id": "S1", "patient_id": "P1", "center_id": "C01", "timepoint": "baseline", "tissue": "blood"}
TUMOUR_PRE_POST = [("tumour", "baseline", "surgery"), ("blood", "baseline", "surgery")]

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore:Support for Awkward Arrays")


def _manifest(rows: list[tuple[str, str, str, str]], ref=lambda sid: f"omics/scrna_seq/{sid}.h5ad") -> pd.DataFrame:
    return pd.DataFrame([{"sample_id": sid, "patient_id": pid, "center_id": "C01", "collection_date": "2024-01-01",
                          "timepoint": tp, "tissue": tissue, "assay": "scrna_seq", "file_ref": ref(sid)}
                         for sid, pid, tp, tissue in rows])


def _na_equal(a: pd.Series, b: pd.Series) -> bool:
    a = a.astype(object).where(a.notna(), None)
    b = b.astype(object).where(b.notna(), None)
    return bool((a.map(str) == b.map(str)).all())


# -- readers on scirpy's bundled real data --------------------------------------------------------------

def test_contig_csv_reader_agrees_with_scirpy_on_real_10x_pbmc_t_cells():
    """1,556 real T cells (10x 5′ PBMC, Cell Ranger filtered contigs): the checked text → AIRR path
    gives scirpy's read_10x_vdj result chain by chain."""
    ours = read_vdj(PBMC3, SAMPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ir.io.read_10x_vdj(PBMC3)
        for a in (ours, ref):
            ir.pp.index_chains(a)
            ir.tl.chain_qc(a)
    assert ours.n_obs == ref.n_obs == 1556
    assert list(ours.obs_names[:1]) == ["S1:" + ref.obs_names[0]]
    assert (ours.obs[["sample_id", "patient_id", "tissue"]].astype(str).drop_duplicates().values.tolist()
            == [["S1", "P1", "blood"]])
    ours.obs_names = ours.obs["barcode"].astype(str).to_numpy()
    fields = ["junction", "junction_aa", "locus", "v_call", "j_call", "productive", "umi_count", "cdr3_aa"]
    a = ir.get.airr(ref, fields)
    b = ir.get.airr(ours, fields).set_axis(ours.obs_names).loc[ref.obs_names]
    for c in a.columns:
        assert _na_equal(a[c].reset_index(drop=True), b[c].reset_index(drop=True)), c
    assert (ours.obs.loc[ref.obs_names, "chain_pairing"] == ref.obs["chain_pairing"]).all()
    assert ref.obs["chain_pairing"].value_counts()["single pair"] == 1109


def test_all_digit_barcodes_stay_text(tmp_path):
    """scirpy's own CSV reader turns barcode 00012 into 12; ours keeps the gene-expression name."""
    df = pd.read_csv(TENX / "filtered_contig_annotations.csv", dtype=str)
    codes = {b: f"{i:05d}" for i, b in enumerate(df["barcode"].unique())}
    df["barcode"] = df["barcode"].map(codes)
    df["contig_id"] = df["barcode"] + "_" + df["contig_id"].str.split("_").str[-2:].str.join("_")
    a = read_vdj(_write(df, tmp_path / "x.csv"), SAMPLE)
    assert set(a.obs["barcode"]) == set(codes.values())
    assert "S1:00000" in a.obs_names


def test_airr_tsv_reader_on_bundled_rearrangements():
    a = read_vdj(DATA / "airr" / "issue_625.tsv", SAMPLE)
    assert a.n_obs == 79 and a.obs_names[0].startswith("S1:")
    b = read_vdj(DATA / "airr" / "rearrangement_trb.tsv", SAMPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ir.tl.chain_qc(b)
    assert (b.obs["chain_pairing"] == "orphan VDJ").all()


def _wu2020() -> "ir.AnnData":
    """wu2020_200 (Wu et al., Nature 2020): 200 real T cells of tumour, normal adjacent tissue (NAT)
    and blood of 14 patients (lung, endometrium, renal, colon), treatment-naive; old scirpy schema."""
    import anndata as ad

    a = ad.read_h5ad(DATA / "wu2020_200_v0_11.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ir.io.upgrade_schema(a)
    t = ad.AnnData(obs=pd.DataFrame(index=a.obs_names), obsm={"airr": a.obsm["airr"]})
    t.obs["sample_id"] = a.obs["sample"].astype(str).to_numpy()
    t.obs["patient_id"] = a.obs["patient"].astype(str).to_numpy()
    t.obs["center_id"] = "WU2020"
    t.obs["timepoint"] = "baseline"
    t.obs["tissue"] = a.obs["source"].astype(str).map({"Tumor": "tumour", "Blood": "blood", "NAT": "normal_adjacent"}).to_numpy()
    t.obs["clonotype_orig"] = a.obs["clonotype_orig"].astype(str).to_numpy()
    return t


def test_real_wu2020_tumour_nat_blood_clonotypes_and_sharing():
    t = _wu2020()
    res = run_tcr(t, comparisons=[])
    qc = res.tables["tcr_qc"]
    assert qc["n_vdj_cells"].sum() == 200
    pairing = qc.filter(like="pairing__").sum()
    # scirpy's chain QC of the 200 cells (no multichain cell: all are analysed)
    assert pairing.to_dict() == {"pairing__extra_VDJ": 3, "pairing__extra_VJ": 7, "pairing__orphan_VDJ": 74,
                                 "pairing__orphan_VJ": 18, "pairing__single_pair": 97, "pairing__two_full_chains": 1}
    obs = res.tcr.obs
    # the authors' clonotypes with two cells here are ours too (identical CDR3 nucleotides)
    for orig, g in obs.groupby("clonotype_orig"):
        if len(g) > 1:
            assert g["clone_id"].nunique() == 1, orig
    # seven clonotypes of two cells: the authors' three, one with a second TRA in one cell (dual_ir="any"),
    # and three orphan-TRB cells joining the one paired clonotype with their TRB nucleotide sequence
    assert (obs.groupby("clone_id", observed=True).size() == 2).sum() == 7 and obs["clone_id_size"].max() == 2
    assert int(obs["orphan_rescued"].sum()) == 3
    ov = res.tables["tcr_overlap"]
    shared = ov[ov["n_shared_clones"] > 0]
    # renal patient 3: one clone in both tumour and normal adjacent tissue (the authors' renal3.tnb.C445);
    # lung patient 4: a tumour cell with only its TRB joins a paired clone of the normal tissue. None in blood.
    assert shared[["patient_id", "tissue_a", "tissue_b", "n_shared_clones"]].values.tolist() == [
        ["Lung4", "tumour", "normal_adjacent", 1], ["Renal3", "tumour", "normal_adjacent", 1]]
    strict = run_tcr(_wu2020(), comparisons=[], rescue_orphans=False)
    assert (strict.tcr.obs.groupby("clone_id", observed=True).size() == 2).sum() == 4
    so = strict.tables["tcr_overlap"]
    assert so.loc[so["n_shared_clones"] > 0, "patient_id"].tolist() == ["Renal3"]
    f = res.tables["tcr_features"]
    assert f["tcr_blood_shared_clones"].dropna().eq(0).all()
    assert res.tables["tcr_associations"].empty and any(s["analysis"] == "tcr_associations" for s in res.skipped)


# -- the manifest and bad input ------------------------------------------------------------------------------

def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def test_vdj_file_found_beside_the_scrna_file_and_bad_files_refused(tmp_path):
    m = _manifest([("S1", "P1", "baseline", "tumour"), ("S2", "P1", "surgery", "tumour"),
                   ("S3", "P2", "baseline", "blood"), ("S4", "P2", "surgery", "blood")])
    good = pd.read_csv(TENX / "filtered_contig_annotations.csv", dtype=str, keep_default_na=False)
    _write(good, tmp_path / vdj_companion("omics/scrna_seq/S1.h5ad"))
    bad = good.copy()
    bad.loc[2, "cdr3_nt"] = "TGTXXQ"
    _write(bad, tmp_path / "omics/scrna_seq/S2_filtered_contig_annotations.csv")
    _write(good.drop(columns=["umis"]), tmp_path / "omics/scrna_seq/S4_filtered_contig_annotations.csv")
    # S3 has no V(D)J library; "S9" is not a sample of the manifest
    with pytest.warns(SampleRefused) as rec:
        a = read_tcr(m, tmp_path, vdj_files={"S9": "omics/scrna_seq/S1_filtered_contig_annotations.csv"})
    msgs = [str(w.message) for w in rec if isinstance(w.message, SampleRefused)]
    assert set(a.obs["sample_id"]) == {"S1"} and a.n_obs == 5
    assert a.uns["tcr_without_vdj"] == ["S3"]
    s2 = next(x for x in msgs if "sample S2" in x)
    assert "S2_filtered_contig_annotations.csv" in s2 and "line 4" in s2 and "field cdr3_nt (a 6-character value)" in s2
    assert "vdj_malformed" in s2 and "AAACCTGAGATAGCAT" not in s2 and "TGTXXQ" not in s2  # no cell or value quoted
    s4 = next(x for x in msgs if "sample S4" in x)
    assert "line 1" in s4 and "umis" in s4 and "missing column" in s4
    assert any("S9" in x and "not a scRNA-seq sample of the manifest" in x for x in msgs)
    assert set(a.uns["tcr_refused"]["rule"]) == {"vdj_malformed", "vdj_unknown_sample"}
    with pytest.raises(OmicsInputError, match=r"sample S2: V\(D\)J file .*S2_filtered_contig_annotations.csv: line 4"):
        read_tcr(m, tmp_path, strict=True)


def test_check_contigs_names_every_bad_field_with_its_line():
    df = pd.read_csv(TENX / "filtered_contig_annotations.csv", dtype=str, keep_default_na=False).head(4)
    df.loc[0, "productive"] = "maybe"
    df.loc[1, "umis"] = "-3"
    df.loc[2, "cdr3_nt"] = df.loc[2, "cdr3_nt"] + "A"   # 3 × length of cdr3 no more
    df.loc[3, "contig_id"] = df.loc[0, "contig_id"]
    df.loc[3, "chain"] = "TRZ"
    p = check_contigs(df)
    got = {(r.line, r.field) for r in p.itertuples()}
    assert got == {(2, "productive"), (3, "umis"), (4, "cdr3_nt"), (5, "contig_id"), (5, "chain")}
    assert p.loc[p["field"] == "cdr3_nt", "problem"].iloc[0].startswith("length is not 3")
    assert check_contigs(pd.read_csv(TENX / "filtered_contig_annotations.csv", dtype=str, keep_default_na=False)).empty


def test_blank_lines_keep_line_numbers_and_unreadable_file_is_one_line(tmp_path):
    good = (TENX / "filtered_contig_annotations.csv").read_text().splitlines()
    broken = good[:3] + [""] + [good[3].replace(",TRA,", ",XYZ,")] + good[4:]
    p = tmp_path / "S1_filtered_contig_annotations.csv"
    p.write_text("\n".join(broken) + "\n")
    with pytest.raises(OmicsInputError, match=r"line 5: field chain \(a 3-character value\) not a receptor chain"):
        read_vdj(p, SAMPLE)
    gz = tmp_path / "S1_filtered_contig_annotations.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(OmicsInputError, match=r"sample S1: V\(D\)J file .*not a readable CSV"):
        read_vdj(gz, SAMPLE)
    p.write_text("barcode,chain\n")
    with pytest.raises(OmicsInputError, match="missing column"):
        read_vdj(p, SAMPLE)
    p.write_text("")
    with pytest.raises(OmicsInputError, match=r"S1_filtered_contig_annotations.csv is empty \(no header line"):
        read_vdj(p, SAMPLE)
    p.write_text(good[0] + "\n")
    with pytest.raises(OmicsInputError, match="has a header line but no contig rows"):
        read_vdj(p, SAMPLE)


def test_a_refusal_never_quotes_a_cell_or_value_that_may_identify_someone(tmp_path):
    """A mis-pasted name in the barcode and an email / phone in a sequence field: the message gives
    the line, field, rule and the number of further problems with their lines, never the text."""
    df = pd.read_csv(TENX / "filtered_contig_annotations.csv", dtype=str, keep_default_na=False)
    df.loc[0, "barcode"] = "Maria Garcia"
    df.loc[0, "cdr3"] = "jane.doe@hospital.org"
    df.loc[1, "cdr3"] = "Patient 555-123-4567"
    p = _write(df, tmp_path / "S1_filtered_contig_annotations.csv")
    with pytest.raises(OmicsInputError) as err:
        read_vdj(p, SAMPLE)
    msg = str(err.value)
    assert "line 2: field cdr3 (a 21-character value) not an amino-acid sequence" in msg
    assert "2 more problem(s): line 2 cdr3_nt; line 3 cdr3" in msg  # cdr3_nt: no longer 3 × cdr3
    for text in ("Maria", "Garcia", "jane.doe", "hospital", "555"):
        assert text not in msg, text


def test_cellranger_layouts_and_a_link_leaving_the_data_folder(tmp_path):
    outs = tmp_path / "runs" / "S1" / "count"
    outs.mkdir(parents=True)
    (outs / "sample_filtered_feature_bc_matrix.h5").write_bytes(b"")
    (outs.parent / "vdj_t").mkdir()
    shutil.copy(TENX / "filtered_contig_annotations.csv", outs.parent / "vdj_t" / "filtered_contig_annotations.csv")
    assert vdj_path_for(outs / "sample_filtered_feature_bc_matrix.h5") == \
        outs.parent / "vdj_t" / "filtered_contig_annotations.csv"
    assert vdj_path_for(tmp_path / "runs" / "S2.h5ad") is None
    outside = tmp_path.parent / f"{tmp_path.name}_outside.csv"
    shutil.copy(TENX / "filtered_contig_annotations.csv", outside)
    root = tmp_path / "study"
    (root / "omics").mkdir(parents=True)
    (root / "omics" / "S1_filtered_contig_annotations.csv").symlink_to(outside)
    m = _manifest([("S1", "P1", "baseline", "tumour")], ref=lambda sid: f"omics/{sid}.h5ad")
    with pytest.warns(SampleRefused, match="resolves outside the data folder"):
        with pytest.raises(OmicsInputError, match="no readable V\\(D\\)J file"):
            read_tcr(m, root)
    r = tcr_step(_manifest([("S1", "P1", "baseline", "tumour")]), root)
    assert r.tcr is None and "no readable V(D)J file" in r.skipped[0]["reason"]


# -- a hand-built worked example -------------------------------------------------------------------------------

def _nt(i: int, locus: str) -> str:
    """A CDR3 nucleotide junction (C … F) unique to clone number ``i`` and the locus."""
    codons = ["GGT", "AGC", "CTG", "GCA", "ACT", "CGT", "CCG", "GAT", "GAA", "CAG", "AAC", "TAT"]
    mid = "".join(codons[(i // 12 ** k) % 12] for k in range(4))
    return ("TGTGCCAGC" if locus == "TRB" else "TGTGCTGTG") + mid + "TTT"


def _aa(nt: str) -> str:
    from latc.omics.sc._tcr_synth import _CODONS

    table = {c: a for a, cs in _CODONS.items() for c in cs}
    return "".join(table[nt[i:i + 3]] for i in range(0, len(nt), 3))


def _cells(spec: list[tuple]) -> "ir.AnnData":
    """spec: (sample_id, tissue, timepoint, clone number or None, n cells, chains 'AB' / 'A' / 'B');
    patient P1; a clone number gives the same TRA/TRB to its cells, None a fresh one per cell."""
    from scirpy.io import AirrCell

    cells, meta, fresh = [], [], 1000
    for sid, tissue, tp, clone, n, chains in spec:
        for _ in range(n):
            k = clone if clone is not None else (fresh := fresh + 1)
            c = AirrCell(f"{sid}:{len(cells):04d}")
            for locus in ("TRA", "TRB"):
                if locus[-1] in chains:
                    d = AirrCell.empty_chain_dict()
                    nt = _nt(k, locus)
                    d.update(locus=locus, junction=nt, junction_aa=_aa(nt), productive=True, umi_count=3,
                             v_call="TRAV1-2" if locus == "TRA" else "TRBV7-9")
                    c.add_chain(d)
            cells.append(c)
            meta.append({"sample_id": sid, "patient_id": "P1", "center_id": "C01", "timepoint": tp, "tissue": tissue})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ir.io.from_airr_cells(cells)
    for col in meta[0]:
        a.obs[col] = [m[col] for m in meta]
    return a


def test_clone_tracking_categories_on_a_worked_example():
    # tumour baseline (T0, 20 cells) → surgery (T1, 20 cells); clone: pre cells → post cells
    #   1: 1 → 4   expanded   (freq 0.05 → 0.20, × 4 ≥ 2, ≥ 2 cells post)
    #   2: 3 → 3   persistent (same frequency)
    #   3: 4 → 1   contracted (0.20 → 0.05)
    #   4: 0 → 2   new, and expanded post (new-expanded: clonal replacement)
    #   5: 2 → 0   lost, expanded pre (lost-expanded)
    #   6: 2 → 2 with one orphan-TRB cell post: the orphan joins clone 6 (persistent)
    #   singletons: 8 pre, 8 post (each new / lost)
    spec = [("T0", "tumour", "baseline", 1, 1, "AB"), ("T0", "tumour", "baseline", 2, 3, "AB"),
            ("T0", "tumour", "baseline", 3, 4, "AB"), ("T0", "tumour", "baseline", 5, 2, "AB"),
            ("T0", "tumour", "baseline", 6, 2, "AB"), ("T0", "tumour", "baseline", None, 8, "AB"),
            ("T1", "tumour", "surgery", 1, 4, "AB"), ("T1", "tumour", "surgery", 2, 3, "AB"),
            ("T1", "tumour", "surgery", 3, 1, "AB"), ("T1", "tumour", "surgery", 4, 2, "AB"),
            ("T1", "tumour", "surgery", 6, 1, "AB"), ("T1", "tumour", "surgery", 6, 1, "B"),
            ("T1", "tumour", "surgery", None, 8, "AB")]
    res = run_tcr(_cells(spec), comparisons=[("tumour", "baseline", "surgery")], min_cells=5)
    tr = res.tables["tcr_tracking"]
    obs = res.tcr.obs
    clone_of = {k: obs.loc[obs.index[[i for i, s in enumerate(_flat(spec)) if s == k][0]], "clone_id"]
                for k in (1, 2, 3, 4, 5, 6)}
    cat = tr.set_index("clone_id")["category"].astype(str)
    assert {k: cat[v] for k, v in clone_of.items()} == {1: "expanded", 2: "persistent", 3: "contracted", 4: "new",
                                                        5: "lost", 6: "persistent"}
    assert int(obs["orphan_rescued"].sum()) == 1
    row = tr.set_index("clone_id").loc[clone_of[1]]
    assert (row["n_pre"], row["n_post"], row["freq_pre"], row["freq_post"]) == (1, 4, 0.05, 0.20)
    assert row["log2_fold_change"] == pytest.approx(np.log2((4.5 / 20) / (1.5 / 20)))
    from scipy.stats import fisher_exact

    assert row["p"] == pytest.approx(fisher_exact([[4, 16], [1, 19]])[1])
    s = res.tables["tcr_tracking_summary"].iloc[0]
    assert (s["timepoint"], s["n_expanded"], s["n_persistent"], s["n_contracted"], s["n_new"], s["n_lost"]) == \
        ("surgery-baseline", 1, 2, 1, 1 + 8, 1 + 8)
    assert (s["n_new_expanded"], s["n_lost_expanded"]) == (1, 1)
    # post clones with ≥ 2 cells: 1 (4), 2 (3), 4 (2), 6 (2) → one of four not seen pre
    assert s["replacement_fraction"] == pytest.approx(1 / 4)
    assert s["expanding_cell_fraction_post"] == pytest.approx((4 + 2) / 20)
    f = res.tables["tcr_features"].set_index("sample_id")
    sizes_post = np.array([4, 3, 1, 2, 2] + [1] * 8, dtype=float)
    p = sizes_post / sizes_post.sum()
    assert f.loc["T1", "tcr_clonality"] == pytest.approx(1 - (-(p * np.log(p)).sum() / np.log(len(p))))
    assert f.loc["T1", "tcr_top_clone_fraction"] == pytest.approx(4 / 20)
    assert (f.loc["T1", "n_cells"], f.loc["T1", "tcr_n_clonotypes"], f.loc["T1", "tcr_n_expanded_clones"]) == (20, 13, 4)
    assert f.loc["T1", "tcr_expanded_cell_fraction"] == pytest.approx(11 / 20)
    ov = res.tables["tcr_overlap"].iloc[0]
    x = np.array([1, 3, 4, 0, 2, 2] + [1] * 8 + [0] * 8, dtype=float)
    y = np.array([4, 3, 1, 2, 0, 2] + [0] * 8 + [1] * 8, dtype=float)
    assert ov["n_shared_clones"] == 4 and ov["jaccard"] == pytest.approx(4 / 22)
    assert ov["morisita_horn"] == pytest.approx(
        2 * (x * y).sum() / (((x ** 2).sum() / 20 ** 2 + (y ** 2).sum() / 20 ** 2) * 20 * 20))


def _flat(spec) -> list:
    out = []
    for _, _, _, clone, n, _ in spec:
        out += [clone] * n
    return out


def test_overlap_indices_by_hand():
    assert morisita_horn(np.array([5, 0, 1]), np.array([5, 0, 1])) == pytest.approx(1.0)
    assert morisita_horn(np.array([5, 0]), np.array([0, 3])) == 0.0
    # x = (2, 1), y = (1, 1): Dx = 5/9, Dy = 1/2, C = 2·3 / ((5/9 + 1/2)·3·2) = 18/19
    assert morisita_horn(np.array([2, 1]), np.array([1, 1])) == pytest.approx(18 / 19)
    assert np.isnan(morisita_horn(np.array([0, 0]), np.array([1, 1])))
    assert jaccard(np.array([1, 1, 0, 2]), np.array([0, 3, 1, 1])) == pytest.approx(2 / 4)


def test_orphan_chain_joins_only_an_unambiguous_paired_clone():
    # clone 1: TRA1+TRB1; clone 2: TRA2+TRB1 (same TRB); clone 3: TRA3+TRB3
    spec = [("S", "tumour", "baseline", 1, 2, "AB"), ("S", "tumour", "baseline", 3, 2, "AB"),
            ("S", "tumour", "baseline", 3, 1, "B"), ("S", "tumour", "baseline", 3, 1, "A")]
    a = _cells(spec)
    define_clones(a)
    assert a.obs["clone_id"].nunique() == 2 and int(a.obs["orphan_rescued"].sum()) == 2
    b = _cells(spec)
    define_clones(b, rescue_orphans=False)
    assert b.obs["clone_id"].nunique() == 4
    # an orphan TRB shared by two paired clones stays its own clonotype
    from scirpy.io import AirrCell

    c = _cells(spec[:1] + [("S", "tumour", "baseline", 1, 1, "B")])
    cells = ir.io.to_airr_cells(c)
    other = AirrCell("S:9999")
    for ch in cells[0].chains:
        d = dict(ch)
        if d["locus"] == "TRA":
            d["junction"], d["junction_aa"] = _nt(40, "TRA"), _aa(_nt(40, "TRA"))
        other.add_chain(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c2 = ir.io.from_airr_cells([*cells, other])
    for col in ("sample_id", "patient_id", "center_id", "timepoint", "tissue"):
        c2.obs[col] = c.obs[col].iloc[0]
    define_clones(c2)
    assert c2.obs["clone_id"].nunique() == 3 and not c2.obs["orphan_rescued"].any()


# -- planted truth ------------------------------------------------------------------------------------------------

RESPONDERS = {f"C01-{i + 1:04d}": i % 2 == 0 for i in range(10)}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """10 neoadjuvant patients (5 responders), tumour and blood at baseline and surgery, cells from
    the synthetic scRNA-seq generator; their V(D)J files written beside the scRNA-seq file_refs and
    read back through the manifest."""
    from latc.omics.sc._synth import simulate_counts

    rows = [{"sample_id": f"{pid}-{'BL' if tp == 'baseline' else 'SX'}_{'TU' if tissue == 'tumour' else 'PB'}_SC",
             "patient_id": pid, "center_id": "C01", "timepoint": tp, "tissue": tissue, "responder": r,
             "neoadjuvant": True}
            for pid, r in RESPONDERS.items() for tissue in ("tumour", "blood") for tp in ("baseline", "surgery")]
    samples = pd.DataFrame(rows)
    gex, _ = simulate_counts(samples, seed=7, cells_per_sample=250)
    root = tmp_path_factory.mktemp("tcr_study")
    m = _manifest([(r["sample_id"], r["patient_id"], r["timepoint"], r["tissue"]) for r in rows])
    sim = simulate_tcr(gex.obs, RESPONDERS, seed=7)
    truth = write_contigs(sim, root, dict(zip(m["sample_id"], m["file_ref"])))
    tcr = read_tcr(m, root)
    subject = pd.DataFrame({"patient_id": list(RESPONDERS), "objective_response": list(RESPONDERS.values())})
    adata = _qc_passed(gex)
    res = run_tcr(tcr, adata=adata, outcomes=load_outcomes(subject=subject), comparisons=TUMOUR_PRE_POST)
    # the truth of the analysed cells: T cells that pass scRNA-seq QC (no doublet, no damaged cell)
    cells = sim.cells[sim.cells.index.isin(adata.obs_names) & (sim.cells["kind"] != "ambient")]
    return {"res": res, "sim": sim, "truth": truth, "gex": gex, "manifest": m, "root": root, "adata": adata,
            "cells": cells}


def _qc_passed(gex):
    """The gene-expression cells as QC would leave them (doublets and damaged cells removed), annotated
    with their true cell type."""
    import anndata as ad

    keep = ~(gex.obs["true_doublet"] | gex.obs["true_damaged"]).to_numpy()
    a = ad.AnnData(obs=gex.obs[keep][["sample_id", "patient_id", "center_id", "timepoint", "tissue"]].copy())
    a.obs["cell_type"] = gex.obs.loc[keep, "true_cell_type"].astype("category").to_numpy()
    return a


def test_writer_files_and_truth(planted):
    t = planted["truth"]
    assert len(t["files"]) == 40 and all(f.endswith("_filtered_contig_annotations.csv") for f in t["files"].values())
    assert {c["kind"] for c in t["clones"]} == {"shared", "tumour", "blood", "new", "cd4"}
    df = pd.read_csv(planted["root"] / next(iter(t["files"].values())), dtype=str, keep_default_na=False)
    assert check_contigs(df).empty
    assert set(df["chain"]) <= {"TRA", "TRB", "Multi"}
    prod = df[df["productive"] == "True"]
    assert prod["cdr3"].str.startswith("C").all() and prod["cdr3"].str[-1].isin(["F", "W"]).all()
    assert (prod["cdr3_nt"].str.len() == 3 * prod["cdr3"].str.len()).all()


def test_synthetic_vdj_is_seeded(planted, tmp_path):
    obs = planted["gex"].obs
    obs = obs[obs["patient_id"] == "C01-0001"]
    refs = {sid: f"omics/scrna_seq/{sid}.h5ad" for sid in obs["sample_id"].unique()}
    a = write_vdj(obs, RESPONDERS, tmp_path / "a", refs, seed=3)
    b = write_vdj(obs, RESPONDERS, tmp_path / "b", refs, seed=3)
    c = write_vdj(obs, RESPONDERS, tmp_path / "c", refs, seed=4)
    assert a == b and a["files"] == c["files"] and a["clones"] != c["clones"]
    for rel in a["files"].values():
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
        assert vdj_path_for(tmp_path / "a" / rel.replace("_filtered_contig_annotations.csv", ".h5ad")) == \
            tmp_path / "a" / rel


def test_planted_clones_recovered_exactly(planted):
    res, cells = planted["res"], planted["cells"]
    obs = res.tcr.obs.join(cells[["clone", "kind"]])
    # every analysed cell is a QC-passed T cell of the truth; every such cell is analysed
    assert obs["clone"].notna().all() and len(obs) == len(cells)
    # no clonotype mixes two true clones; no planted clone is split (orphan chains rejoin theirs)
    assert obs.groupby("clone_id", observed=True)["clone"].nunique().max() == 1
    plant = obs[obs["kind"] != "singleton"]
    assert plant["kind"].nunique() == 5 and plant.groupby("clone")["clone_id"].nunique().max() == 1
    # every planted clone with ≥ 2 cells in a sample is an expanded clone there, of the planted size
    got = plant.groupby(["sample_id", "clone"], observed=True).agg(n=("clone_id", "size"), exp=("expanded", "all"))
    want = cells[cells["kind"] != "singleton"].groupby(["sample_id", "clone"]).size()
    assert got["n"].sort_index().to_dict() == want.sort_index().to_dict()
    assert got.loc[got["n"] >= 2, "exp"].all() and not got.loc[got["n"] < 2, "exp"].any()
    assert (got["n"] >= 2).sum() > 100
    # singletons are never expanded; the clones table lists the planted chains
    assert not obs.loc[obs["kind"] == "singleton", "expanded"].any()
    ct = res.tables["tcr_clones"].merge(obs[["clone_id", "clone"]].astype(str).drop_duplicates(), on="clone_id")
    want_trb = planted["sim"].clones.set_index("clone")["trb_cdr3"]
    pl = ct[ct["clone"].isin(want_trb.index)]
    assert (pl["trb_cdr3"] == pl["clone"].map(want_trb)).all()


def test_tumour_blood_sharing_matches_the_planted_sharing(planted):
    res, sim, cells = planted["res"], planted["sim"], planted["cells"]
    realised = cells[cells["kind"] != "singleton"].groupby("sample_id")["clone"].agg(set)
    ov = res.tables["tcr_overlap"]
    tb = ov[(ov["tissue_a"] == "tumour") & (ov["tissue_b"] == "blood") & (ov["timepoint_a"] == ov["timepoint_b"])]
    assert len(tb) == 20
    kinds = sim.clones.set_index("clone")["kind"]
    for r in tb.itertuples():
        shared = realised[r.sample_a] & realised[r.sample_b]
        assert r.n_shared_clones == len(shared), (r.sample_a, r.sample_b)
        assert {kinds[c] for c in shared} <= {"shared", "new", "cd4"}
    f = res.tables["tcr_features"].set_index("sample_id")
    assert (f.loc[tb["sample_a"], "tcr_blood_shared_clones"].to_numpy() == tb["n_shared_clones"].to_numpy()).all()
    assert f.loc[tb["sample_a"], "tcr_blood_morisita_horn"].to_numpy() == pytest.approx(tb["morisita_horn"].to_numpy())
    # tumour-resident clones never reach blood, blood-only clones never the tumour
    obs = res.tcr.obs.join(cells[["kind"]])
    assert not ((obs["kind"] == "tumour") & (obs["tissue"] == "blood")).any()
    assert not ((obs["kind"] == "blood") & (obs["tissue"] == "tumour")).any()
    # sharing rises in responders after treatment (the planted expansion of shared clones)
    tb = tb.assign(responder=tb["patient_id"].map(RESPONDERS))
    mh = tb.pivot_table(index=["patient_id", "responder"], columns="timepoint_a", values="morisita_horn").reset_index()
    rise = (mh["surgery"] - mh["baseline"]).groupby(mh["responder"]).mean()
    assert rise[True] > rise[False]


def test_responder_effect_direction_recovered(planted):
    res = planted["res"]
    s = res.tables["tcr_tracking_summary"]
    s = s.assign(responder=s["patient_id"].map(RESPONDERS))
    tum = s[s["tissue"] == "tumour"].groupby("responder")[["n_expanded", "n_new_expanded",
                                                           "expanding_cell_fraction_post"]].mean()
    # planted: tumour clones × 2.5–3 after treatment in responders only. Pre-existing clones seen at
    # baseline expand; others, too small to be sampled at baseline, show as newly expanded.
    assert tum.loc[True, "n_expanded"] > tum.loc[False, "n_expanded"]
    assert tum.loc[True, "n_new_expanded"] > tum.loc[False, "n_new_expanded"] + 2
    assert tum.loc[True, "expanding_cell_fraction_post"] > 3 * tum.loc[False, "expanding_cell_fraction_post"]
    a = res.tables["tcr_associations"]
    a = a[(a["tissue"] == "tumour") & (a["timepoint"] == "surgery-baseline") & a["test"].str.startswith("response")]
    for feat in ("expanding_cell_fraction_post", "change__tcr_expanded_cell_fraction", "change__tcr_clonality",
                 "change__tcr_blood_morisita_horn"):
        hit = a[a["feature"] == feat].iloc[0]
        assert hit["effect"] > 0.8 and hit["p"] < 0.05, feat  # AUC: responders' values above non-responders'
    # specificity: non-responders' planted clones rarely called expanded (their shares do not change)
    tr = res.tables["tcr_tracking"]
    obs = res.tcr.obs.join(planted["cells"][["kind"]])
    planted_ids = set(obs.loc[obs["kind"].isin(["shared", "tumour", "blood", "cd4"]), "clone_id"].astype(str))
    nr = tr[tr["clone_id"].isin(planted_ids) & ~tr["patient_id"].map(RESPONDERS) & (tr["category"] != "new")
            & (tr["category"] != "lost")]
    assert (nr["category"] == "expanded").mean() < 0.25


def test_gene_expression_link_keeps_qc_passed_t_cells(planted):
    adata = planted["adata"]
    two = ["C01-0001", "C01-0002"]
    sub = planted["manifest"][planted["manifest"]["patient_id"].isin(two)]
    gex = adata[adata.obs["patient_id"].isin(two)].copy()
    r = tcr_step(sub, planted["root"], gex, comparisons=TUMOUR_PRE_POST)
    assert r.tcr is not None and set(r.tcr.obs["patient_id"]) == set(two)
    assert r.tcr.obs["in_gex"].all() and r.tcr.obs["is_t_cell"].all()
    q = r.tables["tcr_qc"]
    assert (q["n_vdj_cells"] > q["n_t_cells"]).all()     # doublets, damaged cells and ambient contigs dropped
    assert (q["n_analysed"] == q["n_t_cells"]).all()     # no QC-passed T cell is multichain
    sim = planted["sim"].cells
    assert not r.tcr.obs_names.isin(sim.index[sim["kind"] == "ambient"]).any()
    assert not r.tcr.obs_names.isin(sim.index[sim["doublet"]]).any()
    # the clonotypes are copied onto the gene-expression cells
    t = gex.obs["cell_type"].astype(str).str.startswith(("cd8", "cd4", "treg"))
    assert gex.obs.loc[~t, "tcr_clone_id"].isna().all()
    assert gex.obs.loc[r.tcr.obs_names, "tcr_clone_id"].astype(str).tolist() == r.tcr.obs["clone_id"].astype(str).tolist()
    assert gex.obs["tcr_expanded"].sum() == r.tcr.obs["expanded"].sum()
    assert r.tables["tcr_associations"].empty    # no outcomes given


def test_vdj_barcodes_matching_no_cell_are_a_warning_naming_the_sample(planted):
    """A V(D)J file whose barcodes match no gene-expression cell (a lost "-1" suffix, a swapped file)
    says so, instead of the generic "no analysable T cell" (tester, 2026-12-05)."""
    two = ["C01-0001", "C01-0002"]
    sub = planted["manifest"][planted["manifest"]["patient_id"].isin(two)]
    gex = planted["adata"][planted["adata"].obs["patient_id"].isin(two)].copy()
    lost = str(gex.obs["sample_id"].iloc[0])
    names = gex.obs_names.to_series().astype(str)
    gex.obs_names = names.where(gex.obs["sample_id"].astype(str) != lost, names + "x").to_numpy()
    with pytest.warns(UserWarning, match=rf"sample {lost}: none of its [0-9,]+ V\(D\)J barcodes is a cell"):
        r = tcr_step(sub, planted["root"], gex, comparisons=TUMOUR_PRE_POST)
    why = [x["reason"] for x in r.skipped if x["contrast"] == lost]
    assert len(why) == 1 and "barcode suffix" in why[0]
    assert not any("none of its" in x["reason"] for x in r.skipped if x["contrast"] not in ("", lost))


def test_outputs_written(planted, tmp_path):
    files = write_tcr_outputs(planted["res"], tmp_path, skipped=True)
    names = {Path(f).name for f in files}
    assert {"tcr_features.csv", "tcr_overlap.csv", "tcr_tracking_summary.csv", "tcr_associations.csv", "tcr.h5ad",
            "tcr_expansion.png", "tcr_tumour_blood_overlap.png", "tcr_tracking.png", "skipped.csv"} <= names
    import anndata as ad

    back = ad.read_h5ad(tmp_path / "tcr.h5ad")
    assert "airr" in back.obsm and back.obs["clone_id"].nunique() == planted["res"].tcr.obs["clone_id"].nunique()
    # the statistics-only re-run: run_tcr on the saved cells gives the same tables
    again = run_tcr(back, comparisons=TUMOUR_PRE_POST)
    for name in ("tcr_features", "tcr_overlap", "tcr_tracking_summary"):
        pd.testing.assert_frame_equal(again.tables[name], planted["res"].tables[name], check_dtype=False)


def test_clonal_overlap_pairs_every_two_samples_of_a_patient(planted):
    ov = clonal_overlap(planted["res"].tcr)
    assert len(ov) == 10 * 6 and ov["patient_id"].nunique() == 10
    assert ((ov["morisita_horn"] >= 0) & (ov["morisita_horn"] <= 1 + 1e-12)).all()
