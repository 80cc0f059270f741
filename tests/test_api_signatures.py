"""The public API's calling convention (issue "latc 1.0 shape"): the data and the column names are
positional, every option after them is keyword-only, as scanpy does — so a call reads
``cox(df, "os_time", "os_event", covs, strata="center")`` and an option cannot land in the wrong
slot. This test is the rule's linter for the public surface: a new public function with more than
five positional parameters fails here. For one release the former positional calls still work,
with a DeprecationWarning (``latc._compat.positional_deprecated``)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import latc.stats as S

MAX_POSITIONAL = 5


def _public_functions(module):
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isfunction(obj):
            yield name, obj


def _positional(func) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(func).parameters.values() if p.kind in kinds]


@pytest.mark.parametrize("name, func", list(_public_functions(S)))
def test_public_stats_functions_take_options_by_keyword(name, func):
    pos = _positional(func)
    assert len(pos) <= MAX_POSITIONAL, f"latc.stats.{name}: positional {pos}; make the options keyword-only (*)"
    # an option (a parameter with a default) of these names is never positional; a required one is
    # data (a required column such as a treatment or a time is positional)
    params = inspect.signature(func).parameters
    optional = {n for n in pos if params[n].default is not inspect.Parameter.empty}
    options = {"conf_level", "missing", "strata", "weights", "ties", "seed", "method", "robust", "cluster"}
    if name == "p_adjust":  # p_adjust(p, "holm"), as R's p.adjust(p, method): the method is the call's subject
        optional -= {"method"}
    assert not options & optional, f"latc.stats.{name}: options {options & optional} must be keyword-only"


def test_former_positional_call_still_works_for_one_release_with_a_warning():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"t": rng.exponential(10, 80), "e": rng.integers(0, 2, 80), "g": rng.integers(0, 2, 80),
                       "s": rng.integers(0, 2, 80)})
    new = S.logrank(df, "t", "e", "g", strata="s")
    with pytest.warns(DeprecationWarning, match=r"logrank\(\): pass strata by keyword \(strata=…\)"):
        old = S.logrank(df, "t", "e", "g", "s")
    assert old.statistic == new.statistic and old.p == new.p
    with pytest.warns(DeprecationWarning, match=r"pass strata, weights"):
        S.cox(df, "t", "e", ["g"], None, None)
    with pytest.raises(TypeError, match="multiple values for strata"):
        S.logrank(df, "t", "e", "g", "s", strata="s")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S.cox(df, "t", "e", ["g"], strata="s")  # the new spelling: no warning


def test_discrimination_functions_take_the_dataframe_and_column_form_too():
    # harrell_c, uno_c, time_dependent_auc, brier_score and calibration took bare arrays only; the
    # (df, "time", "event", "risk") form of the survival functions gives the same results
    rng = np.random.default_rng(11)
    n = 300
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-0.7 * x) * 24)
    c = rng.exponential(36, n)
    df = pd.DataFrame({"os_time": np.minimum(t, c), "os_event": (t <= c).astype(int), "lp": x,
                       "risk12": 1 - np.exp(-np.exp(0.7 * x) * 12 / 24), "risk24": 1 - np.exp(-np.exp(0.7 * x))})
    arrays = (df["os_time"], df["os_event"])
    assert S.harrell_c(df, "os_time", "os_event", "lp").estimate == S.harrell_c(*arrays, df["lp"]).estimate
    assert S.uno_c(df, "os_time", "os_event", "lp", tau=24).se == S.uno_c(*arrays, df["lp"], tau=24).se
    pd.testing.assert_frame_equal(S.time_dependent_auc(df, "os_time", "os_event", "lp", [12, 24]),
                                  S.time_dependent_auc(*arrays, df["lp"], [12, 24]))
    pd.testing.assert_frame_equal(S.brier_score(df, "os_time", "os_event", ["risk12", "risk24"], [12, 24]),
                                  S.brier_score(*arrays, df[["risk12", "risk24"]].to_numpy(), [12, 24]))
    a = S.calibration(df, "os_time", "os_event", "risk12", 12, groups=5)
    b = S.calibration(*arrays, df["risk12"], 12, groups=5)
    pd.testing.assert_frame_equal(a.table, b.table)
    with pytest.raises(S.StatsInputError, match=r"column\(s\) \['death'\] not found"):
        S.harrell_c(df, "os_time", "death", "lp")


def test_always_keyword_options_say_their_keyword_when_given_by_position():
    # the trial's R-style calls: rmst(df, "t", "e", "g", 365), fit.predict(nd, "risk")
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"t": rng.exponential(10, 60), "e": rng.integers(0, 2, 60), "g": rng.integers(0, 2, 60)})
    with pytest.raises(TypeError, match=r"rmst\(\): pass tau by keyword \(tau=…\)"):
        S.rmst(df, "t", "e", "g", 5)
    with pytest.raises(TypeError, match=r"rmst_difference\(\): pass tau by keyword"):
        S.rmst_difference(df, "t", "e", "g", 5)
    fit = S.cox(df, "t", "e", ["g"])
    with pytest.raises(TypeError, match=r"predict\(\): pass type by keyword \(type=…\)"):
        fit.predict(df, "risk")
    np.testing.assert_allclose(S.p_adjust([0.01, 0.04], "holm"), [0.02, 0.04])  # R: p.adjust(c(.01, .04), "holm")
