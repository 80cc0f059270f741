"""Flower's Deployment Engine carrying latc's federated protocol (issue 14, ``latc.federated.flower``).

Three sites of the small synthetic cohort (``demo_frame(synthetic_derived(300, 3, 1).subject)`` split
by center), each a ``flower-supernode`` process on loopback with its own Parquet frame, and one
``flower-superlink``; the coordinator is the ServerApp (``_selftest``: counts of sex by cohort). Checked:

* the Flower result equals the in-process :class:`~latc.federated.LocalChannel` result exactly;
* each site's release log lists exactly the messages the coordinator received from it (count, order,
  size and SHA-256 of the JSON text);
* a data problem at a site comes back at once as a :class:`~latc.federated.FederatedSiteError`
  naming it; a SuperNode killed mid-run gives one naming it within a bounded time;
* no process is left behind (psutil: the run's tag in the environment, its folder in the command line
  or working directory; and ``pgrep -f``).

The channel's mapping of replies to sites, its errors and the ClientApp's state kept between messages
are also checked in-process, against a fake Grid (no processes).

Skipped when Flower (``flwr``) is not installed — the shared venv does not have it yet; run with
``/tmp/flwrvenv/bin/python -m pytest -q tests/test_federated_flower.py`` where flwr 1.42 is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

pytest.importorskip("flwr", reason="Flower (flwr) is not installed here: the Flower engine tests need flwr 1.42")
psutil = pytest.importorskip("psutil", reason="psutil is needed to check that no process is left behind")

from flwr.app import Context, RecordDict  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from latc.federated import (FederatedSiteError, LocalChannel, SiteRuntime, split_by_site)  # noqa: E402
from latc.federated._synthetic import demo_frame, synthetic_derived  # noqa: E402
from latc.federated.flower import client_app  # noqa: E402
from latc.federated.flower._selftest import counts_plan  # noqa: E402
from latc.federated.flower.launcher import LocalFederation, run_flower  # noqa: E402
from latc.federated.flower.server_app import FlowerChannel  # noqa: E402

if not (Path(sys.executable).parent / "flower-superlink").exists() and shutil.which("flower-superlink") is None:
    pytest.skip("flower-superlink is not installed next to this Python or on PATH", allow_module_level=True)

SITES = ["C01", "C02", "C03"]
#: bounds of every wait (seconds); a round on this machine takes ~5–10 s (Flower's 3 s SuperNode poll
#: plus a fresh ClientApp process per message)
ROUND_TIMEOUT = 60.0
RUN_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    pooled = demo_frame(synthetic_derived(300, 3, 1).subject)
    parts = split_by_site(pooled)
    assert sorted(parts) == SITES
    d = tmp_path_factory.mktemp("site_data")
    paths = {}
    for s, f in parts.items():
        f.to_parquet(d / f"{s}.parquet", index=False)
        paths[s] = d / f"{s}.parquet"
    return {s: pd.read_parquet(p) for s, p in paths.items()}, paths


def _alive(tag: str, folder: Path) -> list[str]:
    """Processes (not zombies) carrying the run's tag, or its folder in their command line or cwd."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        if p.pid == psutil.Process().pid or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.environ()
            cwd = p.cwd()
        except psutil.Error:
            continue
        if env.get("LATC_FLOWER_TAG") == tag or str(folder) in cmd or cwd.startswith(str(folder)):
            found.append(f"{p.pid} {cmd[:160]}")
    return found


def _pgrep(folder: Path) -> list[str]:
    res = subprocess.run(["pgrep", "-af", str(folder)], capture_output=True, text=True, timeout=10)
    return [line for line in res.stdout.splitlines() if line.strip() and "pgrep" not in line]


def _assert_nothing_left(tag: str, folder: Path) -> None:
    deadline = time.monotonic() + 10
    while (left := _alive(tag, folder) + _pgrep(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)  # an exiting process may need a moment to be reaped
    assert left == []


# ------------------------------------------------------------------------------ one real run
@pytest.fixture(scope="module")
def flower(frames, tmp_path_factory):
    base = tmp_path_factory.mktemp("flower_run")
    logs = {s: base / "sites" / s / "release_log.jsonl" for s in SITES}
    t0 = time.monotonic()
    run = run_flower(frames[1], base / "out", release_logs=logs, workdir=base / "engine", timeout=RUN_TIMEOUT,
                     round_timeout=ROUND_TIMEOUT, connect_timeout=60.0)
    return SimpleNamespace(run=run, logs=logs, base=base, wall=time.monotonic() - t0)


def test_flower_result_equals_local_channel(flower, frames):
    local = counts_plan(LocalChannel({s: SiteRuntime(s, f) for s, f in frames[0].items()}))
    assert flower.run.record["status"] == "completed"
    assert flower.run.record["sites"] == SITES
    pd.testing.assert_frame_equal(flower.run.result, local, check_exact=True)
    written = json.loads((flower.run.out / "counts.json").read_text(encoding="utf-8"))
    assert written["rows"] == local.to_dict(orient="records")
    assert int(local["n"].sum()) == sum(len(f) for f in frames[0].values())


def test_release_logs_list_exactly_the_messages_received(flower):
    rec = flower.run.record
    for s in SITES:
        lines = [json.loads(x) for x in flower.logs[s].read_text(encoding="utf-8").splitlines()]
        got = rec["received"][s]
        assert len(lines) == len(got) == rec["messages"][s] == 2          # hello + counts
        assert [x["step"] for x in lines] == [g["step"] for g in got] == ["hello", "counts"]
        assert [x["sha256"] for x in lines] == [g["sha256"] for g in got]
        assert [x["n_bytes"] for x in lines] == [g["n_bytes"] for g in got]
        assert sum(x["n_bytes"] for x in lines) == rec["bytes_sent"][s]
        assert all(x["site"] == s for x in lines)


def test_processes_are_loopback_and_none_is_left(flower):
    cmds = flower.run.commands
    assert set(cmds) == {"superlink", *(f"supernode-{s}" for s in SITES), "flwr-run"}
    for name, argv in cmds.items():
        if name != "flwr-run":
            assert "--insecure" in argv and "0.0.0.0" not in " ".join(argv)
            assert argv[argv.index("--host") + 1] == "127.0.0.1"
    for s in SITES:
        assert cmds[f"supernode-{s}"][cmds[f"supernode-{s}"].index("--superlink") + 1].startswith("127.0.0.1:")
    assert flower.wall < RUN_TIMEOUT + 60
    _assert_nothing_left(flower.run.tag, flower.base)


# ------------------------------------------------------------------------------ failures
def test_data_problem_at_a_site_is_an_error_reply_naming_it(frames, tmp_path):
    paths = dict(frames[1])
    paths["C03"] = tmp_path / "C03-broken.parquet"
    paths["C03"].write_bytes(b"this is not a parquet file")
    # a round timeout far above a loaded machine's round (~5-70 s on 2 busy cores): an answer well inside
    # it is the site's error reply, not the coordinator giving up on a silent site
    round_timeout = 3 * ROUND_TIMEOUT
    with LocalFederation(paths, tmp_path / "engine") as fed:
        fed.start()
        t0 = time.monotonic()
        run_id = fed.submit(tmp_path / "out", round_timeout=round_timeout)
        with pytest.raises(FederatedSiteError) as err:
            fed.wait(run_id, tmp_path / "out", timeout=RUN_TIMEOUT, round_timeout=round_timeout)
        answered = time.monotonic() - t0
    assert err.value.site == "C03"
    assert "answered with an error" in err.value.reason and "cannot read data" in err.value.reason
    assert "did not answer" not in err.value.reason
    assert answered < round_timeout  # the error reply, not the round's timeout
    assert fed.shutdown() == []
    _assert_nothing_left(fed.tag, tmp_path)


def test_killed_supernode_is_a_site_error_naming_it(frames, tmp_path):
    round_timeout = 40.0  # a live site's round stays well inside it even on two busy cores
    logs = {s: tmp_path / "logs" / f"{s}.jsonl" for s in SITES}
    with LocalFederation(frames[1], tmp_path / "engine", release_logs=logs) as fed:
        fed.start()
        run_id = fed.submit(tmp_path / "out", params={"repeat": 40}, round_timeout=round_timeout)
        deadline = time.monotonic() + RUN_TIMEOUT  # start-up is slow when both cores are busy (CI: ~70 s seen)
        while time.monotonic() < deadline:  # mid-run: after every site has answered a counts round
            if all(lg.exists() and len(lg.read_text(encoding="utf-8").splitlines()) >= 2 for lg in logs.values()):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the run did not reach its first counts round within {RUN_TIMEOUT:.0f} s")
        fed.kill_site("C02")
        killed = time.monotonic()
        with pytest.raises(FederatedSiteError) as err:
            fed.wait(run_id, tmp_path / "out", timeout=RUN_TIMEOUT, round_timeout=round_timeout)
        noticed = time.monotonic() - killed
    assert err.value.site == "C02" and set(err.value.failures) == {"C02"}
    assert "did not answer within 40 s" in err.value.reason
    assert noticed < round_timeout + 60
    rec = json.loads((tmp_path / "out" / "flower_run.json").read_text(encoding="utf-8"))
    assert rec["status"] == "failed" and rec["site"] == "C02"
    assert fed.shutdown() == []
    _assert_nothing_left(fed.tag, tmp_path)


# ------------------------------------------------------------------------------ in-process, fake Grid
class FakeGrid:
    """Routes each message to the ClientApp in this process, a fresh "process" (empty runtime cache)
    per message as Flower's SuperNode does; ``silent`` nodes never answer."""

    def __init__(self, configs: dict[int, dict], silent: set[int] = frozenset(), stuck: set[int] = frozenset()) -> None:
        self.contexts = {n: Context(run_id=7, node_id=n, node_config=c, state=RecordDict(), run_config={})
                         for n, c in configs.items()}
        self.silent, self.stuck = set(silent), set(stuck)
        self.replies: dict[str, object] = {}
        self.to: dict[str, int] = {}
        self.release = threading.Event()

    def get_node_ids(self):
        return list(self.contexts)

    def push_messages(self, messages):
        ids = []
        for m in messages:
            m.metadata.__dict__["_message_id"] = m.object_id
            ids.append(m.metadata.message_id)
            self.to[m.metadata.message_id] = m.metadata.dst_node_id
            if m.metadata.dst_node_id not in self.silent:
                client_app._RUNTIMES.clear()
                self.replies[m.metadata.message_id] = client_app.app(m, self.contexts[m.metadata.dst_node_id])
        return ids

    def pull_messages(self, message_ids):
        if any(self.to.get(i) in self.stuck and i in self.replies for i in message_ids):
            self.release.wait(30)  # as Flower waits for the content of a reply whose sender died mid-upload
        return [self.replies.pop(i) for i in list(message_ids) if i in self.replies]


@pytest.fixture
def task_identity():
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 7, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def _configs(paths, tmp_path, **extra) -> dict[int, dict]:
    return {100 + i: {"site": s, "data": str(paths[s]), "release-log": str(tmp_path / f"{s}.jsonl"), **extra}
            for i, s in enumerate(SITES)}


def test_channel_over_fake_grid_equals_local(frames, tmp_path, task_identity):
    ch = FlowerChannel(FakeGrid(_configs(frames[1], tmp_path)), expected=SITES, timeout=5, connect_timeout=1)
    assert ch.sites() == SITES and ch.node_of == {"C01": 100, "C02": 101, "C03": 102}
    got = counts_plan(ch, repeat=2)
    local = counts_plan(LocalChannel({s: SiteRuntime(s, f) for s, f in frames[0].items()}))
    pd.testing.assert_frame_equal(got, local, check_exact=True)
    for s in SITES:
        lines = [json.loads(x) for x in (tmp_path / f"{s}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [x["sha256"] for x in lines] == [r["sha256"] for r in ch.received[s]]
        assert [x["round"] for x in lines] == [0, 1, 2]


def test_channel_names_every_silent_or_failing_site(frames, tmp_path, task_identity):
    grid = FakeGrid(_configs(frames[1], tmp_path), silent={102})
    ch = FlowerChannel(grid, expected=SITES, timeout=0.5, connect_timeout=0.5)
    with pytest.raises(FederatedSiteError) as err:
        ch.sites()
    assert err.value.site == "C03" and "did not answer" in err.value.reason
    cfg = _configs(frames[1], tmp_path)
    cfg[100]["data"] = str(tmp_path / "missing.parquet")
    ch = FlowerChannel(FakeGrid(cfg, silent={101}), expected=SITES, timeout=0.5, connect_timeout=0.5)
    with pytest.raises(FederatedSiteError) as err:
        ch.sites()
    assert set(err.value.failures) == {"C01", "C02"}
    assert "not found" in err.value.failures["C01"] and "did not answer" in err.value.failures["C02"]
    assert "site 'C02'" in str(err.value)


def test_a_reply_stuck_in_transfer_does_not_hold_up_the_round(frames, tmp_path, task_identity):
    grid = FakeGrid(_configs(frames[1], tmp_path), stuck={101})
    ch = FlowerChannel(grid, expected=SITES, timeout=2.0, connect_timeout=0.5)
    t0 = time.monotonic()
    try:
        with pytest.raises(FederatedSiteError) as err:
            ch.sites()
    finally:
        grid.release.set()
    assert time.monotonic() - t0 < 5
    assert err.value.site == "C02" and set(err.value.failures) == {"C02"}
    assert "never arrived complete" in err.value.reason


def test_site_state_survives_a_fresh_clientapp_process(frames, tmp_path, task_identity):
    """``runtime.frame`` changes made by one message (as the ``weights`` step adds the propensity
    scores) are there for the next message, although each message runs in a new process."""
    from latc.federated._messages import Message
    from latc.federated._protocol import SITE_STEPS, site_step

    @site_step("_test_mark")
    def _mark(rt, value):
        rt.frame = rt.frame.assign(_mark=float(value))
        rt.state["mark"] = value
        return Message("counts", rt.site, "ack", {"ok": True})

    @site_step("_test_read")
    def _read(rt):
        return Message("counts", rt.site, "read", {"mark": float(rt.frame["_mark"].iloc[0]),
                                                   "state": rt.state["mark"], "sent": len(rt.sent)})

    try:
        from latc.federated import Request

        ch = FlowerChannel(FakeGrid(_configs(frames[1], tmp_path)), expected=SITES, timeout=5, connect_timeout=1)
        ch.ask({s: Request("_test_mark", {"value": i + 0.5}, 1) for i, s in enumerate(ch.sites())})
        got = ch.ask({s: Request("_test_read", {}, 2) for s in SITES})
        assert {s: m.payload for s, m in got.items()} == {
            s: {"mark": i + 0.5, "state": i + 0.5, "sent": 2} for i, s in enumerate(SITES)}
    finally:
        SITE_STEPS.pop("_test_mark", None)
        SITE_STEPS.pop("_test_read", None)


# ------------------------------------------------------------------------------ the study's comparison
@pytest.mark.slow
def test_comparison_over_flower_equals_local_channel(tmp_path):
    """`run_comparison(baseline=True)` with each site a SuperNode on its own `latc derive` folder:
    every table identical to the in-process run (80 rounds; ~10 min on 2 CPUs: Flower starts a
    ClientApp process per message and its SuperNode polls every 3 s). Also proves the propensity
    scores and weights a site computes in one round are there in the next (``context.state``)."""
    from latc.federated import run_comparison, site_runtime
    from latc.federated._demo import DEMO_POLICY, split_derived
    from latc.federated.flower.launcher import run_flower_comparison

    ds = synthetic_derived(300, 3, 1)
    dirs = split_derived({k: v for k, v in ds.tables().items() if v is not None}, tmp_path / "sites")
    local = run_comparison(LocalChannel({s: site_runtime(s, d, policy=DEMO_POLICY) for s, d in dirs.items()}),
                           baseline=True)
    logs = {s: tmp_path / "logs" / f"{s}.jsonl" for s in dirs}
    fed, bytes_sent = run_flower_comparison(dirs, logs, tmp_path / "flower", policy=DEMO_POLICY, timeout=1800)
    assert fed.rounds == local.rounds and fed.not_computed == local.not_computed
    assert sorted(fed.tables) == sorted(local.tables)
    for name, table in local.tables.items():
        pd.testing.assert_frame_equal(fed.tables[name], table, check_exact=True)
    rec = json.loads((tmp_path / "flower" / "flower_run.json").read_text(encoding="utf-8"))
    for s in dirs:
        lines = [json.loads(x) for x in logs[s].read_text(encoding="utf-8").splitlines()]
        assert [x["sha256"] for x in lines] == [r["sha256"] for r in rec["received"][s]]
        assert sum(x["n_bytes"] for x in lines) == bytes_sent[s]


def test_a_terminated_command_leaves_no_process(frames, tmp_path):
    """`kill` (SIGTERM) of the command that runs the federation stops every process it started."""
    import os
    import signal as _signal

    paths = frames[1]
    code = ("import sys; from latc.federated.flower.launcher import run_flower; "
            f"run_flower({ {k: str(v) for k, v in paths.items()} !r}, {str(tmp_path / 'out')!r}, "
            "params={'repeat': 50}, timeout=600, round_timeout=60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "out" / "engine" / "logs").glob("supernode-*.log")):
        time.sleep(0.5)
    time.sleep(10)                                       # the SuperNodes are up and the run is going
    os.kill(proc.pid, _signal.SIGTERM)
    proc.wait(timeout=60)
    time.sleep(3)
    def ours(p):
        try:
            return p.status() != psutil.STATUS_ZOMBIE and (str(tmp_path) in " ".join(p.cmdline())
                                                            or str(tmp_path) in p.cwd())
        except psutil.Error:
            return False

    assert [p.pid for p in psutil.process_iter() if ours(p)] == []
