"""Time the biomarker models: nested patient-grouped CV on 300 patients × 2,000 features (issue 7).

    .venv/bin/python benchmarks/bench_omics_models.py                          # 300 × 2,000
    .venv/bin/python benchmarks/bench_omics_models.py --patients 300 --features 2000 --samples-per-patient 2

Data are simulated in memory: ``--features`` standard-normal columns per patient (shared by the
patient's samples, plus sample noise when ``--samples-per-patient`` > 1), 5 of them shifted by
0.8 SD in responders (balanced outcome), an exponential RFS depending on the first two. Timed
steps (``time.perf_counter``), each once:

* ``nested_cv``        — logistic, 5 outer × 3 inner folds, filter 50, 10 penalties (L1, liblinear);
* ``evaluate``         — AUC + 1,000 patient-bootstrap resamples, Brier, calibration;
* ``permutation_1``    — one permutation refit (multiply by ``--n-permutations`` for the test);
* ``nested_cv_cox``    — Coxnet (l1_ratio 0.5, 20 alphas), same folds and filter;
* ``screen_binary``    — Mann–Whitney + vectorised logistic on every feature;
* ``screen_survival``  — ``latc.stats.cox`` per feature (first ``--screen-cox`` features).

Wall and CPU time (``time.process_time``) are both reported: on a shared machine wall time
includes waiting for a core. Peak RSS of the process comes from ``resource.getrusage`` (the whole
run, not per step).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import pandas as pd


def _rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 1024**2


def simulate(n: int, p: int, per_patient: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    P = rng.normal(size=(n, p))
    P[:, :5] += 0.8 * y[:, None]
    t = rng.exponential(20 * np.exp(-0.7 * (P[:, 0] + P[:, 1])))
    c = rng.uniform(5, 40, n)
    X = np.repeat(P, per_patient, axis=0)
    if per_patient > 1:
        X = X + 0.5 * rng.normal(size=X.shape)
    pid = np.repeat([f"C01-{i:05d}" for i in range(n)], per_patient)
    cols = [f"f{j}" for j in range(p)]
    return (pd.DataFrame(X, columns=cols), np.repeat(y, per_patient), pid,
            np.repeat(np.minimum(t, c), per_patient), np.repeat((t <= c).astype(int), per_patient))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--features", type=int, default=2000)
    ap.add_argument("--samples-per-patient", type=int, default=1)
    ap.add_argument("--screen-cox", type=int, default=2000)
    args = ap.parse_args(argv)

    from latc.omics.models import (evaluate, nested_cv, nested_cv_cox, permutation_test, screen_binary,
                                   screen_survival)

    X, y, pid, t, e = simulate(args.patients, args.features, args.samples_per_patient)
    out: dict = {"patients": args.patients, "features": args.features, "rows": len(X)}

    def step(name, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        r = fn()
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 2)
        out[f"{name}_cpu_seconds"] = round(time.process_time() - c0, 2)
        print(f"{name:<16} {out[f'{name}_seconds']:>8.2f} s wall {out[f'{name}_cpu_seconds']:>8.2f} s CPU", file=sys.stderr)
        return r

    res = step("nested_cv", lambda: nested_cv(X, y, groups=pid, seed=0))
    ev = step("evaluate", lambda: evaluate(res, n_boot=1000, seed=0))
    out["auc"] = round(float(ev["estimate"].iloc[0]), 3)
    out["auc_ci"] = [round(float(ev["lower"].iloc[0]), 3), round(float(ev["upper"].iloc[0]), 3)]
    step("permutation_1", lambda: permutation_test(X, y, groups=pid, n_permutations=1, seed=0))
    cres = step("nested_cv_cox", lambda: nested_cv_cox(X, t, e, groups=pid, seed=0))
    out["c_index"] = round(float(evaluate(cres, n_boot=200).iloc[0]["estimate"]), 3)
    per_patient = X.groupby(pid).mean()
    yp = pd.Series(y).groupby(pid).first().to_numpy()
    step("screen_binary", lambda: screen_binary(per_patient, yp))
    k = min(args.screen_cox, args.features)
    tp = pd.Series(t).groupby(pid).first().to_numpy()
    ep = pd.Series(e).groupby(pid).first().to_numpy()
    step("screen_survival", lambda: screen_survival(per_patient.iloc[:, :k], tp, ep))
    out["screen_survival_features"] = k
    out["peak_rss_mb"] = round(_rss_mb())
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
