"""The analysis plan in two processes (issue 17 item 1): the comparative and sensitivity sections
here, the others in a forked process beside them. The results must be the very same as in one
process (``n_jobs=1``), file for file, and a second process that dies must cost nothing but time.
Also: ``cox_coef``, the lean refit of the prognostic bootstrap, gives ``cox()``'s bits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import latc.analysis._plan as plan
from latc.analysis import AnalysisOptions, run_analysis, write_results
from latc.derive.datasets import derive_datasets
from latc.stats import cox
from latc.stats._cox import cox_coef
from latc.synth import synthesize

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is forked (Linux)")


@pytest.fixture(scope="module")
def derived():
    s = synthesize(n_patients=400, n_centers=3, seed=17)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"), "eligible": s.latent["eligible"].astype(bool)})
    return derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)


def _written(results, folder: Path) -> dict[str, bytes | dict]:
    write_results(results, folder)
    out: dict[str, bytes | dict] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix == ".csv":
            out[str(p.relative_to(folder))] = p.read_bytes()
    doc = json.loads((folder / "results.json").read_text())
    doc["inputs"].pop("seconds", None)
    for sec in doc["sections"].values():
        sec.pop("seconds", None)
    out["results.json"] = doc
    return out


def _options(n_jobs: int) -> AnalysisOptions:
    return AnalysisOptions(imputations=3, imputation_iterations=2, prognostic_bootstrap=20, n_jobs=n_jobs)


def test_two_processes_give_the_results_of_one(derived, tmp_path):
    steps: list[str] = []
    two = run_analysis(derived, _options(2), progress=steps.append)
    one = run_analysis(derived, _options(1))
    assert "comparison setup" in steps and any("in parallel" in s for s in steps)  # the two-process path ran
    assert list(two.sections) == list(one.sections)  # plan order
    a, b = _written(two, tmp_path / "two"), _written(one, tmp_path / "one")
    assert a.keys() == b.keys() and len(a) > 30
    for k in a:
        assert a[k] == b[k], k
    assert not two.sections["prognostic"].skipped and not two.sections["comparative"].skipped


def test_a_second_process_that_dies_costs_only_time(derived, tmp_path, monkeypatch):
    def dies(*args):  # the forked process is killed before it sends anything
        os._exit(9)

    monkeypatch.setattr(plan, "_side", dies)
    steps: list[str] = []
    res = run_analysis(derived, _options(2), progress=steps.append)
    one = run_analysis(derived, _options(1))
    assert any(s.startswith("prognostic (") and "parallel" not in s for s in steps)  # rerun here
    a, b = _written(res, tmp_path / "a"), _written(one, tmp_path / "b")
    assert a == b


def test_cox_coef_gives_the_bits_of_cox():
    rng = np.random.default_rng(5)
    for n, p in ((60, 1), (300, 3), (2000, 5)):
        X = rng.normal(size=(n, p)).round(2)
        t = rng.exponential(10, n).round(1)  # ties
        e = rng.random(n) < 0.4
        df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)]).assign(t=t, e=e.astype(float))
        for ties in ("efron", "breslow"):
            full = cox(df, "t", "e", list(df.columns[:p]), ties=ties)
            assert np.array_equal(cox_coef(t, e, X, list(df.columns[:p]), ties=ties), full.coef), (n, p, ties)


def test_release_memory_stops_idle_imputation_workers_and_starts_none():
    """``latc run`` calls it between the analysis and the report: loky's idle workers (each holding a
    copy of the imputation data) are stopped; with none running, none is started."""
    import sys

    from joblib import Parallel, delayed

    from latc._fork import release_memory

    mod = "joblib.externals.loky.reusable_executor"
    before = getattr(sys.modules.get(mod), "_executor", None)
    release_memory()
    assert getattr(sys.modules.get(mod), "_executor", None) is before  # nothing started
    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
    executor = sys.modules[mod]._executor
    pids = list(executor._processes)
    assert pids and all(os.path.exists(f"/proc/{p}") for p in pids)
    release_memory()
    assert not executor._processes
    for p in pids:  # the workers have exited (reaped or gone)
        stat = Path(f"/proc/{p}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")
