"""Flow cytometry: FCS read/write with FlowKit, compensation round trip, the shipped YAML gating
strategy recovering planted population frequencies, GatingML 2.0 round trip, clear errors.

FlowKit's and flowio's wheels ship no FCS files (only the GatingML XSD schemas; checked in
research/omics.md §3), so every FCS here is synthetic with known event labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics.flow import (
    compensate,
    events,
    export_gatingml,
    flow_features,
    gate_sample,
    load_gating,
    load_gating_yaml,
    read_fcs,
    spillover_matrix,
)
from latc.omics.flow import _synth as S


@pytest.fixture(scope="module")
def fcs(tmp_path_factory):
    rng = np.random.default_rng(42)
    f = S.sample_fractions(True, "on_treatment", rng)
    raw, labels = S.simulate_events(4000, f, rng)
    path = S.write_fcs(tmp_path_factory.mktemp("fcs") / "C01-0001-OT_PB_FL.fcs", raw, sample_id="C01-0001-OT_PB_FL")
    return path, raw, labels


def test_fcs_round_trip_keeps_channels_markers_and_spillover(fcs):
    path, raw, _ = fcs
    s = read_fcs(path)
    assert s.pnn_labels == S.CHANNELS
    assert s.pns_labels[3:] == S.MARKERS
    assert s.event_count == len(raw)
    assert np.allclose(s.get_events(source="raw"), raw, rtol=1e-6)
    sp = spillover_matrix(s)
    assert sp.loc["FITC-A", "PE-A"] == pytest.approx(0.15) and sp.loc["PE-A", "FITC-A"] == 0.0
    assert np.allclose(sp.to_numpy(), S.spillover().to_numpy())


def test_compensation_recovers_the_unmixed_signal(tmp_path):
    rng = np.random.default_rng(0)
    true = np.abs(rng.normal(0, 2000, (500, len(S.DETECTORS))))
    mixed = true @ S.spillover().to_numpy()
    scatter = np.full((500, 3), 50_000.0)
    path = S.write_fcs(tmp_path / "mix.fcs", np.column_stack([scatter, mixed]).astype(np.float32))
    s = compensate(read_fcs(path), "fcs")
    comp = events(s, "comp")[S.DETECTORS].to_numpy()
    assert np.allclose(comp, true, atol=0.05, rtol=1e-4)  # float32 storage
    assert not np.allclose(events(s, "raw")[S.DETECTORS].to_numpy(), true, atol=1)
    # a lab-supplied matrix (CSV) gives the same result
    S.spillover().to_csv(tmp_path / "spill.csv")
    s2 = compensate(read_fcs(path), tmp_path / "spill.csv")
    assert np.allclose(events(s2, "comp")[S.DETECTORS].to_numpy(), comp)


def test_gating_recovers_planted_population_frequencies(fcs):
    path, _, labels = fcs
    rep = gate_sample(load_gating(), read_fcs(path)).set_index("gate_name")
    expected = S.realised_percent(labels)
    for pop, pct in expected.items():
        assert rep.loc[pop, "relative_percent"] == pytest.approx(pct, abs=1.5), pop
    assert rep.loc["live", "parent"] == "singlets" and rep.loc["Treg", "parent"] == "CD4pos"


def test_gating_without_compensation_loses_nk_cells_to_the_viability_gate(fcs):
    path, _, labels = fcs
    truth = S.realised_percent(labels)["NK"]
    comp = gate_sample(load_gating(), read_fcs(path)).set_index("gate_name").loc["NK", "relative_percent"]
    raw = gate_sample(load_gating(compensation="none"), read_fcs(path)).set_index("gate_name").loc["NK", "relative_percent"]
    assert abs(comp - truth) < 1.5
    assert raw < truth - 10  # BV421-CD56 spills 25 % into the BV510 viability dye: NK cells gated out as dead


def test_gatingml_export_reimports_with_identical_counts(fcs, tmp_path):
    path, _, _ = fcs
    gs = load_gating()
    xml = export_gatingml(gs, tmp_path / "pbmc.xml")
    a = gate_sample(gs, read_fcs(path)).set_index("gate_name")["count"]
    b = gate_sample(load_gating(xml), read_fcs(path)).set_index("gate_name")["count"]
    assert a.sort_index().equals(b.sort_index())


def test_asinh_transform_strategy_runs(fcs, tmp_path):
    path, _, _ = fcs
    spec = load_gating_yaml()
    text = (tmp_path / "g.yaml")
    import yaml

    spec["transform"] = {"type": "asinh", "t": 262144, "m": 4.5, "a": 0}
    text.write_text(yaml.safe_dump(spec))
    rep = gate_sample(load_gating(text), read_fcs(path)).set_index("gate_name")
    assert rep.loc["CD3pos", "count"] > 0  # asinh places 600 at ≈ 0.39, close to logicle's 0.40


@pytest.mark.parametrize("mutate, message", [
    (lambda g: g["gates"][4].update(name="CD3+"), "must be an XML NCName"),
    (lambda g: g["gates"][4].update(parent="nowhere"), "parent 'nowhere' is not defined"),
    (lambda g: g["gates"][4].update(type="ellipse"), "type must be rectangle or polygon"),
    (lambda g: g["gates"][4].update(dims={"CD3": [None, None]}), "at least one bound"),
])
def test_bad_gating_yaml_names_the_gate(tmp_path, mutate, message):
    import yaml

    spec = load_gating_yaml()
    mutate(spec)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(spec))
    with pytest.raises(OmicsInputError, match=message):
        load_gating_yaml(p)


def test_missing_or_broken_fcs_is_a_clear_error(tmp_path):
    with pytest.raises(OmicsInputError, match="FCS file not found"):
        read_fcs(tmp_path / "none.fcs")
    (tmp_path / "bad.fcs").write_bytes(b"not an fcs file at all" * 10)
    with pytest.raises(OmicsInputError, match="bad.fcs: not a readable FCS file"):
        read_fcs(tmp_path / "bad.fcs")


def test_features_one_row_per_sample_linked_to_the_manifest(tmp_path):
    rows = []
    for i, (tp, resp) in enumerate([("baseline", True), ("on_treatment", True), ("baseline", False)]):
        sid = f"C01-000{i}-{tp[:2].upper()}_PB_FL"
        rng = np.random.default_rng(i)
        raw, _ = S.simulate_events(1500, S.sample_fractions(resp, tp, rng), rng)
        S.write_fcs(tmp_path / f"omics/flow/{sid}.fcs", raw)
        rows.append({"sample_id": sid, "patient_id": f"C01-000{i}", "center_id": "C01", "timepoint": tp,
                     "tissue": "blood", "assay": "flow", "file_ref": f"omics/flow/{sid}.fcs"})
    m = pd.DataFrame(rows)
    wide, long = flow_features(m, tmp_path)
    assert len(wide) == 3 and wide["sample_id"].is_unique
    assert {"CD8_PD1pos_count", "CD8_PD1pos_pct_parent", "Treg_pct_parent", "events_total"} <= set(wide.columns)
    assert (wide["events_total"] == 1500).all()
    assert len(long) == 3 * len(load_gating_yaml()["gates"])
    m.loc[2, "file_ref"] = "omics/flow/absent.fcs"
    with pytest.raises(OmicsInputError, match="C01-0002-BA_PB_FL → omics/flow/absent.fcs"):
        flow_features(m, tmp_path)
    wide2, _ = flow_features(m, tmp_path, strict=False)
    assert len(wide2) == 2 and wide2.attrs["missing_samples"] == ["C01-0002-BA_PB_FL"]


def test_writer_plants_more_pd1_positive_cd8_on_treatment_in_responders(tmp_path):
    from latc.omics.flow._synth import write_flow
    from latc.synth._study import synthesize

    st = synthesize(n_patients=120, n_centers=3, seed=3)
    m = st.tables["biospecimens"]
    rows = m[(m["assay"] == "flow") & m["file_ref"].notna()]
    truth = write_flow(rows, st.latent, st.tables, tmp_path, seed=3, scale=0.4)
    assert truth["n_samples"] == len(rows) and all((tmp_path / r).exists() for r in rows["file_ref"])
    t = pd.DataFrame([{"responder": v["responder"], "timepoint": v["timepoint"], **v["percent_of_parent"]}
                      for v in truth["samples"].values()])
    r = t[(t.responder == True)]  # noqa: E712
    assert r.loc[r.timepoint == "on_treatment", "CD8_PD1pos"].mean() > r.loc[r.timepoint == "baseline", "CD8_PD1pos"].mean() + 8
