"""Time writing and reading a study table as CSV (and optionally XLSX).

    .venv/bin/python benchmarks/bench_io.py                       # 100,000 rows x 20 columns, CSV
    .venv/bin/python benchmarks/bench_io.py --rows 1500000 --form labs
    .venv/bin/python benchmarks/bench_io.py --rows 20000 --xlsx

The table is typed the way an analysis holds it (datetime64, Int64, float, boolean, str), built
from the form's dictionary fields (seeded); the write includes the canonical text formatting and
the read includes every normalisation of ``read_study``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from latc.dictionary import load_dictionary
from latc.io import read_study, write_study


def typed_table(form_name: str, n_rows: int, n_columns: int, seed: int = 1) -> pd.DataFrame:
    """A table of ``n_rows`` with the first ``n_columns`` fields of the form, typed per field."""
    rng = np.random.default_rng(seed)
    form = load_dictionary()[form_name]
    cols: dict[str, object] = {}
    for f in form.fields[:n_columns]:
        if f.type == "date":
            days = rng.integers(0, 3000, n_rows)
            cols[f.name] = pd.Timestamp("2018-01-01") + pd.to_timedelta(days, unit="D")
        elif f.type == "integer":
            cols[f.name] = pd.array(rng.integers(0, 500, n_rows), dtype="Int64")
        elif f.type == "number":
            v = rng.gamma(2.0, 10.0, n_rows)
            v[rng.random(n_rows) < 0.1] = np.nan
            cols[f.name] = v
        elif f.type == "yesno":
            cols[f.name] = pd.array(rng.random(n_rows) < 0.3, dtype="boolean")
        elif f.type == "choice":
            cols[f.name] = pd.Series(rng.choice(f.codes, n_rows), dtype="str")
        else:
            cols[f.name] = pd.Series(np.char.add("C01-", rng.integers(1000, 999999, n_rows).astype(str)), dtype="str")
    return pd.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--columns", type=int, default=20)
    ap.add_argument("--form", default="diagnosis")
    ap.add_argument("--xlsx", action="store_true", help="also time the XLSX writer and reader")
    args = ap.parse_args()
    table = typed_table(args.form, args.rows, args.columns)
    print(f"{args.form}: {len(table):,} rows x {table.shape[1]} columns")
    with tempfile.TemporaryDirectory(prefix="latc-bench-io-") as tmp:
        fmts = ["csv", "xlsx"] if args.xlsx else ["csv"]
        for fmt in fmts:
            out = Path(tmp) / ("study" if fmt == "csv" else "study.xlsx")
            t0 = time.perf_counter()
            write_study({args.form: table}, out, fmt=fmt)
            t1 = time.perf_counter()
            study = read_study(out)
            t2 = time.perf_counter()
            size = sum(p.stat().st_size for p in out.glob("*")) if out.is_dir() else out.stat().st_size
            assert len(study[args.form]) == len(table)
            print(f"{fmt:>4}: write {t1 - t0:6.2f} s   read {t2 - t1:6.2f} s   ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
