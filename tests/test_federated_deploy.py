"""`latc federated site` and `latc federated run`: a deployment's two commands, on loopback.

A ``flower-superlink`` is started by hand (as the coordinating center would), two hospitals run
`latc federated site` on their own `latc derive` folders, and the coordinator runs
`latc federated run --plan selftest`: the counts come back, each site's release log records its
messages, and every process is stopped afterwards. TLS is required off loopback (a one-line error).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("flwr", reason="Flower (flwr) is not installed here")

from latc.cli import app  # noqa: E402

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs):
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def test_insecure_is_refused_off_loopback(tmp_path):
    res = CliRunner().invoke(app, ["federated", "run", "--superlink", "10.1.2.3:9093", "--sites", "C01",
                                   "--out", str(tmp_path), "--insecure"])
    assert res.exit_code != 0 and "--insecure is for loopback only" in res.output
    res = CliRunner().invoke(app, ["federated", "run", "--superlink", "10.1.2.3:9093", "--sites", "C01",
                                   "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--root-certificates" in res.output


def test_site_refuses_wrong_inputs_in_one_line(tmp_path):
    derived = tmp_path / "derived"
    derived.mkdir()
    (derived / "subject.parquet").write_bytes(b"")
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    base = ["federated", "site", "--site", "C01", "--superlink", "127.0.0.1:9092", "--insecure"]
    cases = [(["--data", str(tmp_path / "nowhere")], "not a `latc derive` output folder"),
             (["--data", str(derived), "--opt-in", "km_weigted=1"], "no analysis 'km_weigted'"),
             (["--data", str(derived), "--root-certificates", str(not_pem)], "not a PEM certificate"),
             (["--data", str(derived), "--coarsen-months", "0"], "--coarsen-months must be a positive number")]
    for extra, words in cases:
        res = CliRunner().invoke(app, base + extra)
        assert res.exit_code != 0 and words in res.output, (extra, res.output)


def test_site_policy_travels_in_the_node_config():
    """What `latc federated site` puts in the SuperNode's node config is the policy the ClientApp
    rebuilds: minimum, opt-ins, allow-list and the time grid."""
    from latc.federated import DisclosurePolicy
    from latc.federated.flower._wire import policy_from_node_config, policy_to_node_config

    for policy in (DisclosurePolicy(), DisclosurePolicy(min_cell=5, min_cell_by_analysis={"km_weighted": 1},
                                                        allowed=frozenset({"counts", "km"}), coarsen_months=1.0)):
        assert policy_from_node_config(policy_to_node_config(policy)) == policy
    assert policy_to_node_config(DisclosurePolicy(coarsen_months=0.5))["coarsen-months"] == 0.5


def test_sites_and_coordinator_on_loopback(tmp_path):
    from latc.federated._demo import split_derived
    from latc.federated._synthetic import synthetic_derived

    folders = split_derived(synthetic_derived(300, 2, 1).tables(), tmp_path / "hospitals")
    port = _free_port()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "FLWR_HOME": str(tmp_path / "link"),
           "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
    procs = []
    try:
        procs.append(subprocess.Popen([str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port",
                                       str(port), "--disable-runtime-dependency-installation"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the SuperLink did not start"
                time.sleep(0.2)
        for site, folder in folders.items():
            procs.append(subprocess.Popen([str(BIN / "latc"), "federated", "site", "--site", site, "--data", str(folder),
                                           "--superlink", f"127.0.0.1:{port}", "--insecure",
                                           "--port", str(_free_port()),
                                           "--workdir", str(tmp_path / "node" / site)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        time.sleep(8)                                     # the SuperNodes register (Flower polls every 3 s)
        res = subprocess.run([str(BIN / "latc"), "federated", "run", "--superlink", f"127.0.0.1:{port}", "--sites",
                              ",".join(folders), "--out", str(tmp_path / "coord"), "--plan", "selftest", "--insecure",
                              "--timeout", "240"], capture_output=True, text=True, timeout=300, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        counts = json.loads((tmp_path / "coord" / "coordinator" / "counts.json").read_text(encoding="utf-8"))
        assert counts["rows"] and {r["group"] for r in counts["rows"]} >= {"neoadjuvant", "upfront_surgery"}
        for site, folder in folders.items():
            log = (folder.parent / "release_log.jsonl").read_text(encoding="utf-8").splitlines()
            assert [json.loads(x)["step"] for x in log] == ["hello", "counts"]
    finally:
        _stop(procs)
    assert all(p.poll() is not None for p in procs)
