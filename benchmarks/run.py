"""Benchmarks: wall time and peak memory of each stage at several cohort sizes.

    make bench                                  # default sizes 1,000 / 10,000 / 100,000
    .venv/bin/python benchmarks/run.py --sizes 1000 10000 --stages synth validate derive

Each stage runs in its own process (peak RSS is that stage's own); results go to
``benchmarks/results/<date>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(sizes: list[int], stages: list[str]) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"latc-bench-{n}-") as tmp:
            for stage in stages:
                proc = subprocess.run([sys.executable, str(HERE / "_stage.py"), stage, str(n), tmp],
                                      capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
                if proc.returncode != 0:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"stage {stage} failed at n={n}")
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"  n={n:>7,} {stage:<9} {row['seconds']:>8.2f} s  peak {row['peak_mb']:>8.0f} MB", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    keys = ["stage", "patients", "seconds", "peak_mb", "rows", "read_seconds", "validate_seconds", "derive_seconds",
            "write_seconds", "queries"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(k) is None else f"{r[k]:,}" if isinstance(r.get(k), int) else str(r[k]) for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--stages", nargs="+", default=["synth", "validate", "derive", "analyze"])
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default benchmarks/results/<date>.json, or <date>-<stages>.json for other stages)")
    args = ap.parse_args()
    rows = run(args.sizes, args.stages)
    default = ["synth", "validate", "derive", "analyze"]
    suffix = "" if args.stages == default else "-" + "-".join(args.stages)
    out = args.out or HERE / "results" / f"{date.today().isoformat()}{suffix}.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "python": platform.python_version()}, "results": rows}, indent=2))
    print(markdown(rows))
    print(f"\nresults → {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
