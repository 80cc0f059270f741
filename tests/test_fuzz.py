"""Bounded coverage-guided fuzzing of the readers and the validator (tests/fuzz/, atheris).

Marked ``slow`` (``make test-all``). Each target runs in its own libFuzzer process for a bounded
number of inputs and time (``LATC_FUZZ_SECONDS``, default 15 s per target; ``LATC_FUZZ_RUNS``,
default 2,000 inputs — the time limit is what binds) with a fixed seed, starting from the seed
corpus in tests/fuzz/corpus/. The test fails when libFuzzer reports a crash (any exception but
``StudyReadError`` or a broken contract — see tests/fuzz/targets.py) and checks that the fuzzer
really ran: more inputs than the seed corpus holds, i.e. at least one mutated input.

Longer runs: ``make fuzz`` / benchmarks/fuzz.py. Inputs that once crashed are kept in
tests/fuzz/crashes/ and replayed in the default run by tests/test_fuzz_regressions.py.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FUZZ = Path(__file__).parent / "fuzz"
SECONDS = int(os.environ.get("LATC_FUZZ_SECONDS", "15"))
RUNS = int(os.environ.get("LATC_FUZZ_RUNS", "2000"))
NAMES = ("csv_form", "redcap_export", "xlsx")


@functools.cache
def _targets():
    spec = importlib.util.spec_from_file_location("latc_fuzz_targets", FUZZ / "targets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("target", NAMES)
def test_fuzz_target_bounded(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris (the dev extra) is not installed")
    seeds = FUZZ / "corpus" / target
    n_seeds = sum(1 for p in seeds.iterdir() if p.is_file())
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LATC_FUZZ_CRASH_DIR", "LATC_FUZZ_ONLY")}
    env["LATC_FUZZ_TMP"] = str(tmp_path)
    cmd = [sys.executable, str(FUZZ / "targets.py"), target, f"-runs={RUNS}", f"-max_total_time={SECONDS}",
           "-seed=1", "-len_control=0", "-print_final_stats=1", "-timeout=60", "-rss_limit_mb=4096",
           f"-artifact_prefix={tmp_path}/", str(corpus), str(seeds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", cwd=tmp_path, env=env,
                          timeout=SECONDS + 300)
    log = proc.stdout + proc.stderr
    useful = [ln for ln in log.splitlines() if not ln.startswith(("WARNING:", "INFO: Instrumenting", "ERROR: generated match"))]
    tail = "\n".join(useful[-80:])
    crashed = proc.returncode != 0 or "Uncaught Python exception" in log or "ERROR: libFuzzer" in log
    assert not crashed, f"libFuzzer reported a crash in {target} (exit {proc.returncode}):\n{tail}"
    done = re.search(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+)", log, re.M)
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    assert done and executed, f"no libFuzzer statistics in the output:\n{tail}"
    n = int(executed.group(1))
    print(f"{target}: {n} inputs in <= {SECONDS} s, cov {done.group(2)}, ft {done.group(3)}")
    assert n == int(done.group(1))
    assert n > n_seeds, f"{target}: only {n} inputs run for {n_seeds} seeds — no mutated input was tried:\n{tail}"
    assert int(done.group(2)) > 0
