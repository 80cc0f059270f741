"""Written analysis datasets and their metadata cannot drift apart.

Every column of every written dataset has exactly one metadata row with a label, a rule and a
source; every variable documented in metadata.yaml is written; the type recorded matches the data.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from latc.derive._metadata import MetadataError, load_metadata, metadata_table
from latc.derive.datasets import DATASET_NAMES, derive_datasets
from latc.io import write_datasets
from latc.synth import synthesize


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    s = synthesize(n_patients=250, seed=5)
    ds = derive_datasets(s.tables, s.truth["data_cut"], eligibility=s.latent[["patient_id", "eligible"]])
    out = tmp_path_factory.mktemp("derived")
    paths = write_datasets(ds, out)
    return ds, out, paths


def test_every_written_column_has_metadata_and_every_entry_is_written(written):
    ds, out, _ = written
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    documented = load_metadata()
    assert set(documented) == set(DATASET_NAMES)
    for name in DATASET_NAMES:
        cols = list(pd.read_parquet(out / f"{name}.parquet").columns)
        assert cols == list(pd.read_csv(out / f"{name}.csv", nrows=0).columns), name
        rows = meta[meta["dataset"] == name]
        assert rows["variable"].tolist() == cols, name  # one row per column, in column order
        missing = sorted(set(cols) - set(documented[name]))
        assert not missing, f"{name}: columns without a metadata.yaml entry: {missing}"
        unused = sorted(set(documented[name]) - set(cols))
        assert not unused, f"{name}: metadata.yaml entries never written: {unused}"
    assert (meta["documented"] == "TRUE").all()  # R read.csv reads TRUE/FALSE as logical (docs/r.md)
    assert (meta["label"] != "").all() and (meta["source"] != "").all() and (meta["derivation"] != "").all()


def test_metadata_json_matches_csv_and_types_match_the_data(written):
    ds, out, _ = written
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    js = json.loads((out / "metadata.json").read_text())
    assert len(js) == len(meta)
    assert [r["variable"] for r in js] == meta["variable"].tolist()
    types = meta.set_index(["dataset", "variable"])["type"]
    sub = ds.subject
    assert types[("subject", "age_at_diagnosis")] == "integer"
    assert types[("subject", "pcr")] == "boolean"
    assert types[("subject", "index_surgery_date")] == "date"
    assert types[("subject", "depth_of_response_percent")] == "number"
    assert types[("subject", "best_overall_response")] == "text"
    assert set(types.unique()) <= {"text", "integer", "number", "boolean", "date"}
    assert len(sub) == 250


def test_citations_are_resolved_and_templates_expanded():
    m = load_metadata()
    assert "Eur J Cancer 2009;45:228-247" in m["subject"]["best_overall_response"]["citation"]
    assert "admiralonco" in m["subject"]["best_overall_response"]["citation"]  # two keys joined
    assert {"calcitonin_postop_halving_time_days", "cea_neoadjuvant_n_values", "tg_baseline"} <= set(m["biochem"])
    assert m["biochem"]["tg_baseline"]["label"].startswith("Tg (ng/mL)")
    assert m["subject"]["rfsstr_event"]["source"] == "latc.derive.tte.derive_tte"
    # a bare name takes the full definition of the dataset that owns it
    assert m["subject"]["resection_status"] == m["surgery"]["resection_status"]


def test_undocumented_column_is_reported_not_hidden(tmp_path):
    t = {"subject": pd.DataFrame({"patient_id": ["A-001"], "brand_new_column": [1]})}
    meta = metadata_table(t)
    row = meta.set_index("variable").loc["brand_new_column"]
    assert not row["documented"] and row["label"] == "" and row["type"] == "integer"
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets:\n  subject:\n    variables:\n      - nowhere_defined\n")
    with pytest.raises(MetadataError, match="nowhere_defined"):
        load_metadata(str(bad))


def test_written_files_round_trip(written):
    ds, out, paths = written
    for name in DATASET_NAMES:
        pq = pd.read_parquet(out / f"{name}.parquet")
        assert len(pq) == len(getattr(ds, name))
        pd.testing.assert_frame_equal(pq.reset_index(drop=True), getattr(ds, name).reset_index(drop=True), check_dtype=False)
    subj = pd.read_csv(out / "subject.csv", dtype=str)
    assert subj["index_surgery_date"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (out / "problems.csv").exists() and paths["metadata"] == out / "metadata.csv"
    params = json.loads((out / "parameters.json").read_text())
    assert params["parameters"]["response_source"] == "computed" and params["counts"]["subjects"] == 250
