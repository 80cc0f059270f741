"""event_codes=(1, 2): R's survival status coding (1 = censored, 2 = event) read as asked, else
refused with a message that says how (issue #15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox, kaplan_meier, logrank, rmst

LUNG = pd.read_csv(Path(__file__).parent / "data" / "r_golden" / "lung.csv")  # status 1/2 and event 0/1


def test_r_status_coding_gives_the_same_fits_as_0_1():
    km_a = kaplan_meier(LUNG, "time", "event", "sex")
    km_b = kaplan_meier(LUNG, "time", "status", "sex", event_codes=(1, 2))
    pd.testing.assert_frame_equal(km_a.table, km_b.table)
    lr_a, lr_b = logrank(LUNG, "time", "event", "sex"), logrank(LUNG, "time", "status", "sex", event_codes=(1, 2))
    assert lr_a.statistic == lr_b.statistic and lr_a.p == lr_b.p
    c_a = cox(LUNG, "time", "event", ["age", "sex"])
    c_b = cox(LUNG, "time", "status", ["age", "sex"], event_codes=(1, 2))
    np.testing.assert_array_equal(c_a.coef, c_b.coef)
    assert rmst(LUNG, "time", "status", "sex", tau=365, event_codes=(1, 2))["rmst"].tolist() == \
        rmst(LUNG, "time", "event", "sex", tau=365)["rmst"].tolist()


def test_without_event_codes_r_coding_is_refused_with_the_way_out():
    with pytest.raises(StatsInputError, match=r"has 2 \(for R's 1/2 status coding pass event_codes=\(1, 2\)"):
        kaplan_meier(LUNG, "time", "status")
    with pytest.raises(StatsInputError, match="must hold 1 \\(censored\\) or 2 \\(event\\)"):
        kaplan_meier(LUNG, "time", "event", event_codes=(1, 2))  # 0 is not a code then
    with pytest.raises(StatsInputError, match="two different numbers"):
        cox(LUNG, "time", "status", ["age"], event_codes=(1, 1))
