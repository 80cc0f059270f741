"""`latc run` end to end: wall time, memory of the whole process tree, and each stage's seconds.

    .venv/bin/python benchmarks/bench_run.py                         # 1,000 patients × 3 runs, 100,000 × 1
    .venv/bin/python benchmarks/bench_run.py --sizes 1000 --repeat 5 --pdf-engine weasyprint

Synthesises each study once (``latc synth``, 8 centers at 1,000, 40 at 100,000, seed 1), then runs
``latc run STUDY --out DIR --quiet`` as a user would. latc forks helpers (the analysis's second
process, the report's workers, Chromium), so the peak of one process is not the memory the run
needs: a sampler adds up the proportional set size (PSS: shared copy-on-write pages counted once)
of ``latc`` and all its descendants every 0.1 s (0.5 s above 10,000 patients), and the largest sum is reported beside the largest
single process's RSS. Issue 17 items 1 and 2 (targets: < 10 s at 1,000 patients; < 90 s and < 4 GB
at 100,000). Results: ``benchmarks/results/run-<date>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
LATC = Path(sys.executable).with_name("latc")


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        kids: list[int] = []
        for t in tasks:
            kids += [int(x) for x in (t / "children").read_text().split()]
        return kids
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def _pss_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB, from /proc/PID/smaps_rollup (0 when it has gone)."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return pss, rss


class TreeMemory(threading.Thread):
    """Samples the summed PSS of a process tree and the largest single RSS until stopped."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_pss_kb = self.peak_rss_kb = self.peak_processes = 0
        self.peak_at = 0.0
        self.samples: list[tuple[float, int, int]] = []  # (seconds, PSS kB, processes)
        self._halt = threading.Event()

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self._halt.is_set():
            pids = _tree(self.pid)
            sizes = [_pss_kb(p) for p in pids]
            total = sum(s[0] for s in sizes)
            self.samples.append((round(time.perf_counter() - t0, 2), total, len(pids)))
            if total > self.peak_pss_kb:
                self.peak_pss_kb, self.peak_at = total, time.perf_counter() - t0
            self.peak_rss_kb = max(self.peak_rss_kb, max((s[1] for s in sizes), default=0))
            self.peak_processes = max(self.peak_processes, len(pids))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def synth(n: int, work: Path) -> Path:
    study = work / f"synth-{n}"
    if not (study / "study").is_dir():
        subprocess.run([str(LATC), "synth", "--out", str(study), "-n", str(n), "-k", str(8 if n <= 10_000 else 40),
                        "--seed", "1"], check=True, capture_output=True)
    return study / "study"


def run_once(study: Path, out: Path, extra: list[str], every: float = 0.1) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(LATC), "run", str(study), "--out", str(out), "--quiet", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mem = TreeMemory(proc.pid, every)
    mem.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    mem.stop()
    if proc.returncode != 0:
        raise SystemExit(f"latc run failed:\n{err[-3000:]}")
    m = json.loads((out / "manifest.json").read_text())
    stages, t = {}, 0.0
    for k in ("read", "validate", "derive", "analyze", "summary", "report"):
        t += m.get("timings_seconds", {}).get(k, 0.0)
        stages[k] = round(t, 1)
    return {"wall_seconds": round(wall, 2), "peak_tree_pss_gb": round(mem.peak_pss_kb / 1e6, 2),
            "peak_at_seconds": round(mem.peak_at, 1), "stage_ends_seconds": stages,
            "pss_gb_by_second": [(t_, round(k / 1e6, 2), n_) for t_, k, n_ in mem.samples[:: max(1, int(1 / mem.every))]],
            "peak_process_rss_gb": round(mem.peak_rss_kb / 1e6, 2), "processes": mem.peak_processes,
            "stages": {k: v.get("seconds") for k, v in m["stages"].items()},
            "pdf_engine": (m.get("counts", {}).get("report") or {}).get("pdf_engine")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--repeat", type=int, default=None, help="runs per size (default: 3 at ≤ 10,000, else 1)")
    ap.add_argument("--pdf-engine", default="auto")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "latc-bench-run")
    ap.add_argument("--out", type=Path, default=HERE / "results" / f"run-{date.today()}.json")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in a.sizes:
        study = synth(n, a.work)
        for i in range(a.repeat or (3 if n <= 10_000 else 1)):
            r = {"patients": n, "run": i + 1, **run_once(study, a.work / f"run-{n}", ["--pdf-engine", a.pdf_engine],
                                                         every=0.1 if n <= 10_000 else 0.5)}
            rows.append(r)
            print(f"  n={n:>7,} run {i + 1}: {r['wall_seconds']:>7.2f} s, tree PSS {r['peak_tree_pss_gb']:.2f} GB "
                  f"({r['processes']} processes), {r['stages']} {r['pdf_engine']}", file=sys.stderr)
    doc = {"date": str(date.today()), "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                   "load_before": os.getloadavg()}, "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    print("| patients | run | wall | peak PSS, process tree | largest process RSS | validate | derive | analyze | report | PDF |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        s = r["stages"]
        print(f"| {r['patients']:,} | {r['run']} | {r['wall_seconds']:.1f} s | {r['peak_tree_pss_gb']:.2f} GB | "
              f"{r['peak_process_rss_gb']:.2f} GB | {s.get('validate')} | {s.get('derive')} | {s.get('analyze')} | "
              f"{s.get('report')} | {r['pdf_engine']} |")


if __name__ == "__main__":
    main()
