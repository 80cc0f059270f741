"""Live cross-check with R (``@pytest.mark.r``; skipped without Rscript): seeded random counts,
``binom.test(x, n, conf.level = 0.9)$conf.int`` and ``prop.test(x, n, conf.level = 0.9,
correct = FALSE)$conf.int`` against :func:`latc.stats.proportion_ci` to 1e-10."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _rlive import requires_r, run_r

from latc.stats import proportion_ci

pytestmark = pytest.mark.r

R_SCRIPT = r"""
d <- read.csv(commandArgs(TRUE)[1])
res <- t(mapply(function(x, n) c(binom.test(x, n, conf.level = 0.9)$conf.int,
                                 suppressWarnings(prop.test(x, n, conf.level = 0.9, correct = FALSE)$conf.int)),
                d$x, d$n))
write.csv(data.frame(res), commandArgs(TRUE)[2], row.names = FALSE)
"""


@requires_r()
def test_random_counts_agree_with_live_r(tmp_path):
    rng = np.random.default_rng(2024)
    n = rng.integers(1, 400, 60)
    x = np.minimum(rng.binomial(n, rng.uniform(0, 1, 60)), n)
    x[:3], x[3:6] = 0, n[3:6]                       # edges
    r = run_r(R_SCRIPT, pd.DataFrame({"x": x, "n": n}), tmp_path, out="out.csv").to_numpy()
    cp = proportion_ci(x, n, conf_level=0.9)
    wi = proportion_ci(x, n, method="wilson", conf_level=0.9)
    np.testing.assert_allclose(cp[["lower", "upper"]].to_numpy(), r[:, :2], atol=1e-10, rtol=0)
    np.testing.assert_allclose(wi[["lower", "upper"]].to_numpy(), r[:, 2:], atol=1e-10, rtol=0)
