"""Benchmark: the whole study through the REDCap-compatible API (issue #13), against the CSV folder.

    .venv/bin/python benchmarks/bench_capture_api.py                      # 100,000 patients, PostgreSQL if it answers
    .venv/bin/python benchmarks/bench_capture_api.py --patients 10000 --db sqlite

What it does, all on loopback:

1. ``latc synth`` writes a synthetic study of ``--patients`` patients (CSV folder);
2. a fresh capture database is seeded with it in bulk (centers, patients, one record per CSV row,
   instances numbered per patient and form in file order, as ``latc capture import`` numbers them).
   The seeding skips validation and the per-field audit entries of a real import (at 100,000
   patients those would be tens of millions of entries): it measures the export, not the import;
3. ``latc capture serve`` (waitress, one process) serves the API; a data manager's token exports
   every record of every form as REDCap's flat CSV through PyCap, unchanged
   (``Project.export_records(format_type="csv")``), and the server's peak resident memory is read
   from ``/proc/<pid>/status`` (VmHWM) afterwards;
4. the lower bound: the same REDCap flat CSV written straight from the CSV folder
   (``latc.io.read_study`` + ``latc.io.redcap.write_redcap_export``), in this process;
5. checks: the API's CSV has the lower bound's header and, cell by cell, its rows in its order
   (``<form>_complete``: the API gives the stored form status, 2 = complete, where the CSV folder
   has none and the file says 0).

Writes ``benchmarks/results/<date>-capture-api.json`` and prints the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_capture import _database, _free_port, _run  # the capture load benchmark's helpers (same folder)

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LATC = str(BIN / "latc")
DB_NAME = "latc_bench_capture_api"

SEED = r"""
import json, sys, time
from collections import defaultdict
from pathlib import Path
from latc.capture.settings import configure
configure({db!r}, Path({dir!r}))
from django.db import transaction
from django.utils import timezone
from latc.capture import services
from latc.capture.api.tokens import create_token
from latc.capture.models import Center, Patient, Record, RecordStatus
from latc.io import read_study
from latc.io._study import ROW

t0 = time.perf_counter()
d = services.dictionary()
study = read_study({study!r}, d)
centers = sorted({{str(c) for c in study.tables["patients"]["center_id"].dropna()}})
for c in centers:
    services.create_center(None, c, f"Center {{c}}")
dm = services.create_user(None, "dm.bench", {password!r}, "data_manager", [])
token = create_token(None, dm, label="benchmark")
cmap = {{c.code: c for c in Center.objects.all()}}
pat = study.tables["patients"]
Patient.objects.bulk_create([Patient(patient_id=p, center=cmap[c]) for p, c in zip(pat["patient_id"], pat["center_id"])],
                            batch_size=5000)
pk = dict(Patient.objects.values_list("patient_id", "pk"))
now = timezone.now()
n = 0
for form in d.forms:
    t = study.tables.get(form)
    if t is None or not len(t):
        continue
    cols = [c for c in t.columns if c != ROW]
    counters = defaultdict(int)
    batch = []
    for i, row in enumerate(t[cols].itertuples(index=False, name=None)):
        r = dict(zip(cols, row))
        pid = r.get("patient_id")
        if pid not in pk:
            continue
        counters[pid] += 1
        data = {{k: str(v) for k, v in r.items() if v is not None and v == v}}
        batch.append(Record(patient_id=pk[pid], form=form, instance=counters[pid], data=data, version=1,
                            status=RecordStatus.COMPLETE, created_at=now, updated_at=now,
                            source=f"{{form}}.csv row {{i + 2}}", source_order=n + i))
        if len(batch) >= 20000:
            Record.objects.bulk_create(batch, batch_size=5000); batch = []
    Record.objects.bulk_create(batch, batch_size=5000)
    n += len(t)
print(json.dumps({{"token": token, "patients": len(pk), "records": Record.objects.count(),
                  "seconds": time.perf_counter() - t0}}))
"""


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _lower_bound(study: Path, out: Path) -> tuple[float, Path]:
    sys.path.insert(0, str(HERE.parent / "src"))
    from latc.dictionary import load_dictionary
    from latc.io import read_study
    from latc.io.redcap import EXPORT_FILE, write_redcap_export

    t0 = time.perf_counter()
    d = load_dictionary()
    tables = read_study(study, d).tables
    write_redcap_export(tables, out, d)
    return time.perf_counter() - t0, out / EXPORT_FILE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="latc-bench-api-"))
    env = {**os.environ, "LATC_CAPTURE_DIR": str(work / "capture")}
    t0 = time.perf_counter()
    _run([LATC, "synth", "--out", str(work / "syn"), "--patients", str(args.patients), "--seed", "11"], env, 7200)
    study = work / "syn" / "study"
    synth_s = time.perf_counter() - t0
    db, vendor = _database(args.db, DB_NAME)
    if db:
        env["LATC_CAPTURE_DB"] = db
    _run([LATC, "capture", "init", "--dir", str(work / "capture")] + (["--db", db] if db else []), env, 7200)
    password = "bench-" + os.urandom(12).hex()
    seeded = json.loads(_run([sys.executable, "-c", SEED.format(db=db, dir=str(work / "capture"), study=str(study),
                                                                    password=password)], env, 7200).strip().splitlines()[-1])
    print(f"seeded {seeded['patients']:,} patients, {seeded['records']:,} records in {seeded['seconds']:.0f} s ({vendor})")

    port = _free_port()
    server = subprocess.Popen([LATC, "capture", "serve", "--port", str(port), "--dir", str(work / "capture")]
                              + (["--db", db] if db else []), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        rss_idle = _vm(server.pid, "VmRSS")
        peak = {"rss": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    peak["rss"] = max(peak["rss"], _vm(server.pid, "VmRSS"))
                except OSError:
                    return
                time.sleep(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        import redcap  # PyCap

        proj = redcap.Project(f"http://127.0.0.1:{port}/api/", seeded["token"])
        t1 = time.perf_counter()
        text = proj.export_records(format_type="csv", export_data_access_groups=True)
        api_s = time.perf_counter() - t1
        stop.set()
        th.join()
        hwm = _vm(server.pid, "VmHWM")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    lb_s, lb_file = _lower_bound(study, work / "lower_bound")
    import io

    import pandas as pd

    api = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    lb = pd.read_csv(lb_file, dtype=str, keep_default_na=False)
    api_lines = text.count("\n")
    lb_lines = len(lb) + 1
    same_header = list(api.columns) == list(lb.columns)
    # <form>_complete: the API gives the stored status (2 = complete, as the seeding sets), the file
    # from the CSV folder 0 (no form status in a CSV folder); every other cell must be equal
    complete = [c for c in api.columns if c.endswith("_complete")]
    filled = lb[complete] != ""
    statuses_ok = bool((api[complete][filled] == "2").where(filled, True).all().all())
    same_rows = statuses_ok and api.drop(columns=complete).equals(lb.drop(columns=complete))
    del api, lb
    result = {
        "date": dt.date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": vendor, "patients": seeded["patients"], "records": seeded["records"], "synth_s": round(synth_s, 1),
        "seed_s": round(seeded["seconds"], 1), "api_export_s": round(api_s, 1), "api_bytes": len(text.encode()),
        "api_lines": api_lines, "server_rss_idle_mb": round(rss_idle / 2**20), "server_rss_peak_mb":
        round(max(peak["rss"], hwm) / 2**20), "csv_folder_lower_bound_s": round(lb_s, 1),
        "lower_bound_lines": lb_lines, "same_header": same_header, "same_rows": same_rows,
    }
    print(json.dumps(result, indent=2))
    out = HERE / "results" / f"{result['date']}-capture-api-{args.patients}-{vendor}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    if db:
        from latc.capture.settings import drop_postgres_database

        drop_postgres_database(DB_NAME)


if __name__ == "__main__":
    main()
