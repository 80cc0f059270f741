"""Longer coverage-guided fuzz runs of the readers and the validator (atheris; tests/fuzz/).

    make fuzz                                                      # every target, 600 s each, 2 at a time
    .venv/bin/python benchmarks/fuzz.py --seconds 600 --target all
    .venv/bin/python benchmarks/fuzz.py --seconds 1800 --target xlsx csv_form --jobs 2
    .venv/bin/python benchmarks/fuzz.py --minimize out/fuzz/crashes/csv_form-0123456789.bin --seconds 120

Each target runs in its own libFuzzer process in keep-going mode: every distinct failure (exception
type + innermost ``latc`` frame, or the broken contract) is saved once under
``out/fuzz/crashes/<target>-<hash>.bin`` with a ``.json`` beside it (signature, message, traceback,
hits; the smallest input seen is kept) and fuzzing goes on. A per-input timeout or running out of
memory ends the libFuzzer process; its input is saved as ``out/fuzz/crashes/<target>-timeout-*`` /
``-oom-*`` and the run restarts on the grown corpus (``out/fuzz/corpus/<target>/``, kept between
runs; ``--fresh`` starts over from the seeds in tests/fuzz/corpus/).

Prints per target: inputs run, wall time, inputs per second, libFuzzer coverage (``cov`` = code
edges reached, ``ft`` = features), corpus size, and the crashes found; writes
``out/fuzz/summary.json``. ``--minimize FILE`` shrinks a saved crash (libFuzzer
``-minimize_crash=1``, keeping the same signature) to ``FILE`` with ``.min`` before the suffix.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "tests" / "fuzz"
TARGETS = FUZZ / "targets.py"
NAMES = ("csv_form", "redcap_export", "xlsx")
_STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
READER_ONLY = False


def _tmp_root() -> str | None:
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


class Run:
    """One target's fuzzing: a libFuzzer process, restarted after a timeout / out-of-memory."""

    def __init__(self, target: str, seconds: float, out: Path, timeout: int, rss_limit_mb: int, seed: int | None,
                 extra: list[str]):
        self.target, self.seconds, self.out = target, seconds, out
        self.timeout, self.rss_limit_mb, self.seed, self.extra = timeout, rss_limit_mb, seed, extra
        self.corpus = out / "corpus" / target
        self.crashes = out / "crashes"
        self.logs = out / "logs"
        for p in (self.corpus, self.crashes, self.logs):
            p.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"latc-fuzz-{target}-", dir=_tmp_root()))
        self.start = time.monotonic()
        self.executed = 0
        self.processes = 0
        self.cov = self.ft = self.corp = 0
        self.deadly: list[dict] = []
        self.proc: subprocess.Popen | None = None
        self.failed = False
        self.log_path: Path | None = None

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def launch(self) -> None:
        self.processes += 1
        self.log_path = self.logs / f"{self.target}-{self.processes}.log"
        artifacts = self.tmp / "artifacts"
        artifacts.mkdir(exist_ok=True)
        cmd = [sys.executable, str(TARGETS), self.target, f"-max_total_time={max(1, int(self.remaining()))}",
               "-len_control=0", "-print_final_stats=1", f"-timeout={self.timeout}",
               f"-rss_limit_mb={self.rss_limit_mb}", f"-artifact_prefix={artifacts}/", "-report_slow_units=10",
               *([f"-seed={self.seed + self.processes}"] if self.seed is not None else []), *self.extra,
               str(self.corpus), str(FUZZ / "corpus" / self.target)]
        env = {**os.environ, "LATC_FUZZ_CRASH_DIR": str(self.crashes), "LATC_FUZZ_TMP": str(self.tmp),
               "PYTHONHASHSEED": "0", "LATC_FUZZ_VALIDATE": "0" if READER_ONLY else "1"}
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp, env=env)

    def collect(self) -> None:
        """Read the finished process's log: stats, and a deadly input (timeout, OOM) to keep."""
        self.log.close()
        text = self.log_path.read_text(errors="replace")
        runs = [int(m) for m in _EXECUTED.findall(text)]
        status = [m.groups() for m in map(_STATUS.match, text.splitlines()) if m]
        self.failed = not runs and not status
        if runs:
            self.executed += runs[-1]
        elif status:
            self.executed += int(status[-1][0])
        if status:
            self.cov, self.ft, self.corp = int(status[-1][2]), int(status[-1][3]), int(status[-1][4])
        reason = ""
        for line in text.splitlines():
            if "ERROR: libFuzzer" in line or "Slowest unit" in line:
                reason = line.strip()
            m = _ARTIFACT.search(line)
            if not m or not Path(m.group(1)).is_file():
                continue
            src = Path(m.group(1))
            kind = src.name.split("-")[0]  # timeout, oom, crash, leak, slow-unit
            if kind == "slow":
                kind = "slow-unit"
            dest = self.crashes / f"{self.target}-{kind}-{src.name.rsplit('-', 1)[-1][:10]}.bin"
            shutil.move(str(src), dest)
            self.deadly.append({"kind": kind, "input": str(dest), "reason": reason or kind, "log": str(self.log_path)})
            print(f"[{self.target}] {kind}: {reason} -> {dest}", file=sys.stderr, flush=True)
        self.proc = None

    def crashes_found(self) -> list[dict]:
        found = []
        for meta in sorted(self.crashes.glob(f"{self.target}-*.json")):
            m = json.loads(meta.read_text())
            found.append({k: m[k] for k in ("signature", "hits", "input", "input_len", "message")})
        return found

    def summary(self) -> dict:
        wall = time.monotonic() - self.start
        return {"target": self.target, "inputs": self.executed, "seconds": round(wall, 1),
                "inputs_per_second": round(self.executed / wall, 2) if wall else 0.0, "cov": self.cov, "ft": self.ft,
                "corpus": self.corp, "processes": self.processes, "crashes": self.crashes_found(), "deadly": self.deadly}

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def fuzz(targets: list[str], seconds: float, jobs: int, out: Path, timeout: int, rss_limit_mb: int,
         seed: int | None, fresh: bool, extra: list[str]) -> list[dict]:
    if fresh:
        for t in targets:
            shutil.rmtree(out / "corpus" / t, ignore_errors=True)
    pending = list(targets)
    running: list[Run] = []
    done: list[Run] = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                r = Run(pending.pop(0), seconds, out, timeout, rss_limit_mb, seed, extra)
                r.launch()
                running.append(r)
                print(f"[{r.target}] fuzzing for {seconds:.0f} s (log {r.log_path})", file=sys.stderr, flush=True)
            time.sleep(1)
            for r in list(running):
                if r.proc is not None and r.proc.poll() is None:
                    if r.remaining() < -120:  # libFuzzer stuck past its own time limit
                        r.proc.kill()
                        r.proc.wait()
                    else:
                        continue
                r.collect()
                if r.failed:
                    print(f"[{r.target}] libFuzzer ran no input; see {r.log_path}", file=sys.stderr, flush=True)
                if r.remaining() > 10 and not r.failed:
                    r.launch()  # restarted after a timeout / OOM: the corpus carries on
                else:
                    running.remove(r)
                    r.cleanup()
                    done.append(r)
    finally:
        for r in running:
            if r.proc is not None and r.proc.poll() is None:
                r.proc.terminate()
                r.proc.wait()
            r.cleanup()
    return [r.summary() for r in done]


def report(rows: list[dict]) -> str:
    lines = ["| target | inputs | seconds | inputs/s | cov | ft | corpus | distinct crashes | timeouts/OOM | slow units |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        slow = sum(x["kind"] == "slow-unit" for x in r["deadly"])
        lines.append(f"| {r['target']} | {r['inputs']:,} | {r['seconds']:.0f} | {r['inputs_per_second']:.2f} | {r['cov']:,} "
                     f"| {r['ft']:,} | {r['corpus']:,} | {len(r['crashes'])} | {len(r['deadly']) - slow} | {slow} |")
    for r in rows:
        for c in r["crashes"]:
            lines.append(f"\n- {r['target']}: `{c['signature']}` — {c['hits']} hit(s), smallest input "
                         f"{c['input_len']} bytes ({c['input']}): {c['message'].splitlines()[0][:200] if c['message'] else ''}")
        for x in r["deadly"]:
            lines.append(f"\n- {r['target']}: {x['kind']} — {x['reason']} ({x['input']})")
    return "\n".join(lines)


def minimize(path: Path, seconds: int) -> Path:
    meta = json.loads(path.with_suffix(".json").read_text())
    target = meta["target"]
    dest = path.with_name(path.stem + ".min" + path.suffix)
    with tempfile.TemporaryDirectory(prefix="latc-fuzz-min-", dir=_tmp_root()) as tmp:
        env = {**os.environ, "LATC_FUZZ_ONLY": meta["signature"], "LATC_FUZZ_TMP": tmp}
        env.pop("LATC_FUZZ_CRASH_DIR", None)
        cmd = [sys.executable, str(TARGETS), target, "-minimize_crash=1", f"-max_total_time={seconds}",
               f"-exact_artifact_path={dest}", "-timeout=60", str(path)]
        # libFuzzer re-runs itself step by step (children of its own); the smallest input so far is at dest
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=3 * seconds + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if not dest.exists():
        raise SystemExit(f"{path}: did not reproduce {meta['signature']}")
    print(f"{path} ({path.stat().st_size} bytes) -> {dest} ({dest.stat().st_size} bytes), {meta['signature']}")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600, help="fuzzing time per target (default 600)")
    ap.add_argument("--target", nargs="+", default=["all"], choices=[*NAMES, "all"])
    ap.add_argument("--jobs", type=int, default=2, help="targets fuzzed at the same time (default 2)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "fuzz")
    ap.add_argument("--timeout", type=int, default=60, help="seconds one input may take before it counts as a hang")
    ap.add_argument("--rss-limit-mb", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=None, help="libFuzzer seed (default: random)")
    ap.add_argument("--fresh", action="store_true", help="start from the seed corpus, dropping out/fuzz/corpus/")
    ap.add_argument("--reader-only", action="store_true",
                    help="skip validate_study (the reader's checks only): 10-20x the inputs; grows the same corpus")
    ap.add_argument("--minimize", type=Path, default=None, help="shrink one saved crash input instead of fuzzing")
    ap.add_argument("libfuzzer", nargs="*", help="extra libFuzzer options after --, e.g. -- -use_value_profile=1")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the libFuzzer processes too (finally:)
    if args.minimize:
        minimize(args.minimize.resolve(), int(args.seconds))
        return
    args.out = args.out.resolve()  # libFuzzer runs in a scratch folder
    global READER_ONLY
    READER_ONLY = args.reader_only
    targets = list(NAMES) if "all" in args.target else list(dict.fromkeys(args.target))
    rows = fuzz(targets, args.seconds, args.jobs, args.out, args.timeout, args.rss_limit_mb, args.seed, args.fresh,
                args.libfuzzer)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2))
    print(report(rows))
    print(f"\nsummary: {args.out / 'summary.json'}; crashes: {args.out / 'crashes'}", file=sys.stderr)


if __name__ == "__main__":
    main()
