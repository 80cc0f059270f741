"""Load benchmark of ``latc capture``: concurrent site users entering patients (issue #12).

    .venv/bin/python benchmarks/bench_capture.py                    # 50 users, 180 s, PostgreSQL if it answers
    .venv/bin/python benchmarks/bench_capture.py --users 10 --seconds 30 --db sqlite

What it does, all on loopback and bounded in time:

1. a fresh database (PostgreSQL ``latc_bench_capture`` on the local server, or SQLite), migrated by
   ``latc capture init``; 8 centers and one site-entry account per simulated user;
2. ``latc capture serve`` in its own process(es): waitress (``--workers 1``) or gunicorn's
   pre-forked workers (``--workers N``, default 4), ``--threads`` each (default 1: the sync worker);
3. locust, headless (``benchmarks/capture_locustfile.py``): each user logs in, then creates
   patients and fills the patients, eligibility and diagnosis forms and two lab results with one
   synthetic patient's values (``latc synth``), fetching each page, thinking (``--think``: the
   nurse typing) and posting it;
4. afterwards, the checks that matter more than speed: every save the server acknowledged (the
   redirect to the saved record) is in the database and has its audit entry, and
   ``latc capture verify-audit`` passes over the whole chain.

Prints throughput, p50/p95/p99 latency per request type and errors, and writes them to
``benchmarks/results/<date>-capture.json``. The server and locust share the machine's cores, so
on a 2-core machine the figures are a lower bound for a real deployment (server on its own host,
several worker processes behind nginx: docs/capture.md).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LATC = str(BIN / "latc")
CENTERS = [f"C{i:02d}" for i in range(1, 9)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env: dict, timeout: float = 600) -> str:
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} … failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def _database(choice: str, name: str = "latc_bench_capture") -> tuple[str | None, str]:
    """(database URL or None for SQLite, vendor): a fresh PostgreSQL database ``name`` (an old one of
    that name is dropped first) when the local server answers, else SQLite."""
    if choice == "sqlite":
        return None, "sqlite"
    sys.path.insert(0, str(HERE.parent / "src"))
    from latc.capture.settings import create_postgres_database, postgres_reachable

    why = postgres_reachable()
    if why:
        if choice == "postgresql":
            raise SystemExit(why)
        print(f"{why}; using SQLite")
        return None, "sqlite"
    return create_postgres_database(name), "postgresql"


SETUP = """
import json, sys
from pathlib import Path
from latc.capture.settings import configure
configure({db!r}, Path({dir!r}))
from latc.capture import services
for c in {centers!r}:
    services.create_center(None, c, f"Center {{c}}")
accounts = json.load(open({accounts!r}))
for a in accounts:
    services.create_user(None, a["username"], a["password"], "site_entry", [a["center"]])
print(len(accounts))
"""

CHECK = """
import json
from pathlib import Path
from latc.capture.settings import configure
configure({db!r}, Path({dir!r}))
from latc.capture.models import AuditEntry, Patient, Record
acks = [json.loads(l) for l in open({acks!r}) if l.strip()]
missing, unaudited = [], []
pids = set(Patient.objects.values_list("patient_id", flat=True))
recs = {{(p, f, i) for p, f, i in Record.objects.values_list("patient__patient_id", "form", "instance")}}
audited = {{(p, f, i) for p, f, i in AuditEntry.objects.exclude(form="").values_list("patient_id", "form", "instance")}}
created = set(AuditEntry.objects.filter(action="patient_create").values_list("patient_id", flat=True))
for a in acks:
    if a["form"] is None:
        if a["patient_id"] not in pids: missing.append(a)
        elif a["patient_id"] not in created: unaudited.append(a)
    else:
        k = (a["patient_id"], a["form"], a["instance"])
        if k not in recs: missing.append(a)
        elif k not in audited: unaudited.append(a)
print(json.dumps({{"acknowledged": len(acks), "missing": missing[:20], "n_missing": len(missing),
                  "unaudited": unaudited[:20], "n_unaudited": len(unaudited),
                  "patients": len(pids), "records": len(recs), "audit_entries": AuditEntry.objects.count()}}))
"""


def _casebooks(folder: Path, env: dict) -> list[dict]:
    """One synthetic patient's rows per casebook (patients, diagnosis, first lab results), as text."""
    _run([LATC, "synth", "--out", str(folder), "--patients", "200", "--centers", "8", "--seed", "7", "--inject-errors", "0"], env)
    study = next(p for p in [folder, folder / "study"] if (p / "patients.csv").exists())

    def rows(name: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        with open(study / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
            for r in csv.DictReader(fh):
                out.setdefault(r["patient_id"], []).append(r)
        return out

    pat, el, dx, labs = rows("patients"), rows("eligibility"), rows("diagnosis"), rows("labs")
    return [{"patients": pat[p][0], "eligibility": el[p][0], "diagnosis": dx[p][0], "labs": labs.get(p, [])[:2]}
            for p in pat if p in dx and p in el and len(labs.get(p, [])) >= 2]


def _stats(prefix: Path) -> list[dict]:
    out = []
    with open(f"{prefix}_stats.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            out.append({"name": r["Name"], "type": r["Type"], "requests": int(r["Request Count"]),
                        "failures": int(r["Failure Count"]), "rps": float(r["Requests/s"]),
                        "p50_ms": float(r["50%"] or 0), "p95_ms": float(r["95%"] or 0), "p99_ms": float(r["99%"] or 0),
                        "max_ms": float(r["Max Response Time"] or 0)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--spawn-rate", type=float, default=1, help="users starting per second (logins: PBKDF2, ~0.5 s of CPU each)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per server process (1: gunicorn's sync worker, a request per process at a time)")
    ap.add_argument("--workers", type=int, default=4,
                    help="server processes (1: waitress; N > 1: gunicorn; 4 = two per core on the 2-core machine)")
    ap.add_argument("--burst", action="store_true", help="think only between patients, post a casebook's pages "
                    "back to back (the first runs' load model)")
    ap.add_argument("--think", default="5,15", help="seconds between a user's pages, min,max (5,15: a nurse "
                    "filling forms; 0.5,1.5: a stress test)")
    ap.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="latc-bench-capture-"))
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    db, vendor = _database(args.db)
    db_args = ["--db", db] if db else []
    data = work / "capture"
    _run([LATC, "capture", "init", "--dir", str(data), *db_args], env)
    accounts = [{"username": f"nurse{i:02d}", "password": secrets.token_urlsafe(12), "center": CENTERS[i % len(CENTERS)]}
                for i in range(args.users)]
    (work / "accounts.json").write_text(json.dumps(accounts))
    _run([sys.executable, "-c", SETUP.format(db=db, dir=str(data), centers=CENTERS, accounts=str(work / "accounts.json"))], env)
    books = _casebooks(work / "synth", env)
    (work / "casebooks.json").write_text(json.dumps(books))

    port = _free_port()
    server = subprocess.Popen([LATC, "capture", "serve", "--dir", str(data), *db_args, "--port", str(port),
                               "--threads", str(args.threads), "--workers", str(args.workers)], env=env, stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit(f"server did not start: {(work / 'server.log').read_text()[-2000:]}")
        acks = work / "acks.jsonl"
        lenv = {**env, "BENCH_ACCOUNTS": str(work / "accounts.json"), "BENCH_TEMPLATES": str(work / "casebooks.json"),
                "BENCH_ACK": str(acks), "BENCH_THINK": args.think,
                "BENCH_THINK_PER_PAGE": "0" if args.burst else "1"}
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "locust"), "-f", str(HERE / "capture_locustfile.py"), "--headless", "--users", str(args.users),
                        "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.seconds}s", "--stop-timeout", "20",
                        "--host", f"http://127.0.0.1:{port}", "--csv", str(work / "locust"), "--only-summary",
                        "--loglevel", "WARNING"], env=lenv, timeout=args.seconds + 120, check=False)
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=30)
    check = json.loads(_run([sys.executable, "-c", CHECK.format(db=db, dir=str(data), acks=str(acks))], env).strip().splitlines()[-1])
    verify = subprocess.run([LATC, "capture", "verify-audit", "--dir", str(data), *db_args], env=env, capture_output=True, text=True)
    stats = _stats(work / "locust")
    total = next(s for s in stats if s["name"] == "Aggregated")
    saves = [s for s in stats if s["name"].startswith("save ") and s["type"] == "POST"]
    result = {
        "date": dt.date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": vendor, "users": args.users, "seconds": args.seconds, "think_s": args.think, "think_per_page": not args.burst,
        "threads": args.threads, "workers": args.workers, "wall_s": round(wall, 1),
        "requests": total["requests"], "failures": total["failures"], "rps": total["rps"],
        "p50_ms": total["p50_ms"], "p95_ms": total["p95_ms"], "p99_ms": total["p99_ms"],
        "saves": saves, "by_request": stats, "check": check,
        "verify_audit": {"exit": verify.returncode, "message": (verify.stdout + verify.stderr).strip()[-500:]},
    }
    out = args.out or HERE / "results" / f"{result['date']}-capture.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"{vendor}, {args.users} users (think {args.think} s), {args.seconds} s: {total['requests']} requests ({total['rps']:.1f}/s), "
          f"{total['failures']} failures; p50 {total['p50_ms']:.0f} ms, p95 {total['p95_ms']:.0f} ms, p99 {total['p99_ms']:.0f} ms")
    for s in stats:
        if s["name"] != "Aggregated":
            print(f"  {s['type']:4} {s['name']:18} n={s['requests']:6} fail={s['failures']:4} "
                  f"p50={s['p50_ms']:5.0f} p95={s['p95_ms']:5.0f} p99={s['p99_ms']:5.0f} ms")
    print(f"acknowledged saves: {check['acknowledged']}, missing from the database: {check['n_missing']}, "
          f"without audit entry: {check['n_unaudited']}; verify-audit exit {verify.returncode}: {result['verify_audit']['message']}")
    print(f"written {out}")
    if vendor == "postgresql":
        from latc.capture.settings import drop_postgres_database

        drop_postgres_database("latc_bench_capture")


if __name__ == "__main__":
    main()
