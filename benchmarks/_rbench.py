"""Shared pieces of the Python-vs-R benchmark scripts (``bench_stats_*.py``).

Each script times the same calls in ``latc.stats`` and in one Rscript run on the same simulated
data, best of ``--repeats``, and prints one Markdown row per call with the ratio Python / R and
the largest absolute difference of the estimates. R is optional: without ``Rscript`` only the
Python timings are printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["best", "main", "rows", "run_r"]


def best(fn: Callable[[], object], reps: int) -> float:
    """The fastest of ``reps`` wall-clock timings of ``fn()`` (seconds)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_r(code: str, df: pd.DataFrame, reps: int) -> dict | None:
    """Run the R script ``code`` as ``Rscript bench.R data.csv out.json reps``; its JSON, or None
    when Rscript is not installed."""
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, out, script = Path(tmp, "d.csv"), Path(tmp, "r.json"), Path(tmp, "bench.R")
        df.to_csv(csv, index=False)
        script.write_text(code)
        subprocess.run(["Rscript", str(script), str(csv), str(out), str(reps)], check=True)
        return json.loads(out.read_text())


def rows(n: int, py: dict[str, float], r: dict | None, diff: dict[str, float], diff_name: str) -> list[dict]:
    """One row per timed call: Python and R seconds (R's first element when it returned a list),
    their ratio and the estimate difference ``diff[call]`` (NaN when not compared)."""
    out = []
    for k, sec in py.items():
        r_sec = (r[k][0] if isinstance(r[k], list) else r[k]) if r else float("nan")
        out.append({"n": n, "call": k, "python_s": sec, "r_s": r_sec,
                    "ratio_python_over_r": sec / r_sec if r and r_sec > 0 else float("nan"),
                    diff_name: diff.get(k, float("nan"))})
    return out


def main(run: Callable[[int, int], list[dict]], description: str, default_repeats: int) -> None:
    """``--sizes`` / ``--repeats`` command line; prints the rows of ``run(n, repeats)`` per size."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--repeats", type=int, default=default_repeats)
    args = ap.parse_args()
    table = pd.DataFrame([row for n in args.sizes for row in run(n, args.repeats)])
    try:
        print(table.to_markdown(index=False, floatfmt=".4g"))
    except ImportError:  # tabulate not installed
        print(table.to_string(index=False))
    if not shutil.which("Rscript"):
        print("Rscript not found: R timings skipped", file=sys.stderr)
