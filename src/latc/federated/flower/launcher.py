"""Start a Flower federation on loopback, run a latc coordinator plan over it, shut it all down.

:class:`LocalFederation` starts, as separate local processes bound to 127.0.0.1 on free ports (no
Docker, no Ray, no simulation engine):

* ``flower-superlink --insecure --host 127.0.0.1 --port P --disable-runtime-dependency-installation``
  (Fleet, Control and Runtime APIs all on the one HTTP port P in Flower 1.42);
* per site ``flower-supernode --insecure --superlink 127.0.0.1:P --host 127.0.0.1 --port Q
  --node-config SITE.toml`` (Q: the SuperNode's own Runtime API), with the site's node config
  (``site``, ``data``, ``release-log``, disclosure policy: :data:`~latc.federated.flower._wire.NODE_KEYS`);

then submits latc's Flower app (generated in ``WORKDIR/app``: a ``pyproject.toml`` whose
``[tool.flwr.app.components]`` point at :mod:`latc.federated.flower.server_app` and
:mod:`~latc.federated.flower.client_app`) with ``flwr run WORKDIR/app latc --run-config RUN.toml
--format json`` against the SuperLink's Control API (connection ``latc`` in ``WORKDIR/flwr-home/config.toml``),
waits (bounded) for the ServerApp's ``flower_run.json`` in the output folder, and stops every process.

Every process gets ``LATC_FLOWER_TAG=<uuid>`` in its environment, inherited by the processes Flower
starts itself (SuperExec, ``flwr-serverapp``, ``flwr-clientapp`` — the SuperLink's SuperExec runs in
a session of its own, so a process group does not reach it). Shutdown terminates every process
carrying the tag, its process groups and every descendant seen during the run, then kills what is
left; :meth:`LocalFederation.leftovers` lists any survivor (none expected).

A SuperNode that dies mid-run: the coordinator's next round gets no answer from it and raises
:class:`~latc.federated.FederatedSiteError` naming the site after ``round_timeout`` seconds; the
launcher re-raises it (and, should the ServerApp not report within ``round_timeout`` + 30 s, raises
it itself from the process exit).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latc.errors import LatcError

from .._disclosure import DisclosurePolicy, FederatedDisclosureError, FederatedInputError
from .._protocol import FederatedSiteError
from ._wire import policy_to_node_config

__all__ = ["COMPARISON", "SELFTEST", "FlowerEngineError", "FlowerRun", "LocalFederation", "app_pyproject",
           "run_flower", "run_flower_comparison"]

#: the self-test plan (counts of sex by cohort from every site)
SELFTEST = "latc.federated.flower._selftest:run"
#: the study's comparison (:func:`latc.federated.run_comparison`)
COMPARISON = "latc.federated.flower._selftest:comparison"

TAG_ENV = "LATC_FLOWER_TAG"
HOST = "127.0.0.1"
CONNECTION = "latc"


class FlowerEngineError(LatcError, RuntimeError):
    """The Flower engine itself failed: a process did not start, the run failed without a site to
    blame, or it did not finish in time. Names the process and its log."""


@dataclass
class FlowerRun:
    """A finished run: its ``flower_run.json`` record (sites, rounds, messages and bytes per site,
    the SHA-256 of every reply received), the plan's return value, the commands and the timings."""

    out: Path
    run_id: str
    record: dict[str, Any]
    result: Any = None
    seconds: dict[str, float] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    workdir: Path | None = None
    tag: str = ""


def app_pyproject(*, coordinator: str = SELFTEST) -> str:
    """``pyproject.toml`` of latc's Flower app (its run config keys with their defaults)."""
    return f"""[project]
name = "latc-federated"
version = "1.0.0"
description = "latc federated analysis: the coordinator (ServerApp) and the sites (ClientApp) of issue 14"
license = "MIT"
dependencies = []

[tool.flwr.app]
publisher = "latc"

[tool.flwr.app.components]
serverapp = "latc.federated.flower.server_app:app"
clientapp = "latc.federated.flower.client_app:app"

[tool.flwr.app.config]
coordinator = {json.dumps(coordinator)}
out = ""
sites = ""
round-timeout = 120.0
connect-timeout = 60.0
params = "{{}}"
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _toml(d: Mapping[str, Any]) -> str:
    """TOML of flat keys and tables of flat keys (node configs, run configs, Flower's config.toml)."""
    lines = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, Mapping)]
    for k, v in d.items():
        if isinstance(v, Mapping):
            lines.append(f"\n[{json.dumps(str(k))}]")
            lines.extend(f"{json.dumps(str(kk))} = {_toml_value(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


def _healthy(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=0.5) as r:
            return int(r.status) == 200
    except (OSError, ValueError):
        return False


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _bin_dir() -> Path:
    """Where ``flower-superlink`` is: next to this Python (its venv), else on PATH."""
    here = Path(sys.executable).parent
    if (here / "flower-superlink").exists():
        return here
    import shutil

    found = shutil.which("flower-superlink")
    if found is None:
        raise FlowerEngineError("flower-superlink not found next to this Python or on PATH (is flwr installed?)")
    return Path(found).parent


class LocalFederation:
    """A SuperLink and one SuperNode per site as local processes on loopback (module docstring).

    ``sites``: site → its data (a Parquet frame of its rows, or its `latc derive` folder);
    ``workdir``: logs, node configs, the app, Flower's homes; ``policy``: one
    :class:`DisclosurePolicy` for all sites or one per site; ``release_logs``: site → path (default
    ``WORKDIR/sites/<site>/release_log.jsonl``). Use as a context manager: the processes are stopped
    on exit, also after an error.
    """

    def __init__(self, sites: Mapping[str, str | Path], workdir: str | Path, *,
                 policy: DisclosurePolicy | Mapping[str, DisclosurePolicy] | None = None,
                 release_logs: Mapping[str, str | Path] | None = None, startup_timeout: float = 60.0) -> None:
        if not sites:
            raise ValueError("LocalFederation: no sites")
        from latc._paths import safe_filename

        # a site name becomes a folder and a log file name: one safe path component, no comma
        bad = [s for s in sites if not str(s) or "," in str(s) or safe_filename(s) != str(s)]
        if bad:
            raise ValueError(f"LocalFederation: site names must be one path component of letters, digits, "
                             f"'.', '_' or '-' (no comma): {bad}")
        self.sites = {str(s): Path(p).resolve() for s, p in sorted(sites.items())}
        self.workdir = Path(workdir).resolve()
        self.policies = {s: (policy.get(s) if isinstance(policy, Mapping) else policy) for s in self.sites}
        logs = dict(release_logs or {})
        self.release_logs = {s: Path(logs[s]).resolve() if s in logs else self.workdir / "sites" / s / "release_log.jsonl"
                             for s in self.sites}
        self.startup_timeout = float(startup_timeout)
        self.tag = uuid.uuid4().hex
        self.bin = _bin_dir()
        self.port: int | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, list[str]] = {}
        self.logs: dict[str, Path] = {}
        self.seconds: dict[str, float] = {}
        self._seen: dict[int, Any] = {}
        self._closed = False
        atexit.register(self.shutdown)

    # ------------------------------------------------------------------------------- processes
    def _env(self, flwr_home: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}",  # Flower starts its helpers by name
            "FLWR_HOME": str(flwr_home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.05",
            "PYTHONUNBUFFERED": "1",
            TAG_ENV: self.tag,
        })
        return env

    def _spawn(self, name: str, argv: list[str], flwr_home: Path) -> subprocess.Popen:
        flwr_home.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self._env(flwr_home), cwd=self.workdir, start_new_session=True)
        self.procs[name], self.commands[name], self.logs[name] = proc, argv, log
        return proc

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            what = f"site {name[len('supernode-'):]!r}'s SuperNode" if name.startswith("supernode-") else name
            raise FlowerEngineError(f"{what} exited with code {proc.returncode} during start-up; "
                                    f"log {self.logs[name]}:\n{_tail(self.logs[name])}")

    def start(self) -> None:
        """Start the SuperLink, wait until it answers, start the SuperNodes, wait until each has registered."""
        t0 = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        home = self.workdir / "flwr-home"
        for attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = _free_port()
            self._spawn("superlink", [str(self.bin / "flower-superlink"), "--insecure", "--host", HOST,
                                      "--port", str(self.port), "--disable-runtime-dependency-installation"], home)
            deadline = time.monotonic() + self.startup_timeout
            up = False
            while time.monotonic() < deadline and self.procs["superlink"].poll() is None:
                if _healthy(self.port):
                    up = True
                    break
                time.sleep(0.1)
            if up:
                break
            if self.procs["superlink"].poll() is None or attempt == 2:
                self._check_alive("superlink")
                raise FlowerEngineError(f"the SuperLink did not answer on {HOST}:{self.port} within "
                                        f"{self.startup_timeout:g} s; log {self.logs['superlink']}")
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f'address = "{HOST}:{self.port}"\ninsecure = true\n', encoding="utf-8")
        self.seconds["superlink"] = time.monotonic() - t0

        for site, data in self.sites.items():
            sdir = self.workdir / "sites" / site
            sdir.mkdir(parents=True, exist_ok=True)
            cfg = {"site": site, "data": str(data), "release-log": str(self.release_logs[site]),
                   **policy_to_node_config(self.policies[site])}
            (sdir / "node_config.toml").write_text(_toml(cfg), encoding="utf-8")
            self._spawn_supernode(site)
        deadline = time.monotonic() + self.startup_timeout
        waiting = set(self.sites)
        retries = {s: 0 for s in self.sites}
        while waiting:
            for site in sorted(waiting):
                name = f"supernode-{site}"
                # its free port was taken between the probe and the bind (another process): a new port
                if (self.procs[name].poll() is not None and retries[site] < 3
                        and "address already in use" in _tail(self.logs[name], 50)):
                    retries[site] += 1
                    self._spawn_supernode(site)
                    continue
                self._check_alive(name)
                if "SuperNode ID:" in _tail(self.logs[f"supernode-{site}"], 200):
                    waiting.discard(site)
            if waiting and time.monotonic() >= deadline:
                raise FlowerEngineError(f"SuperNode(s) of {sorted(waiting)} did not register with the SuperLink "
                                        f"within {self.startup_timeout:g} s; logs in {self.workdir / 'logs'}")
            time.sleep(0.1)
        self._remember()
        self.seconds["startup"] = time.monotonic() - t0

    def _spawn_supernode(self, site: str) -> None:
        sdir = self.workdir / "sites" / site
        self._spawn(f"supernode-{site}", [
            str(self.bin / "flower-supernode"), "--insecure", "--superlink", f"{HOST}:{self.port}",
            "--host", HOST, "--port", str(_free_port()), "--node-config", str(sdir / "node_config.toml")],
            sdir / "flwr-home")

    def kill_site(self, site: str, sig: int = signal.SIGKILL) -> None:
        """Kill a site's SuperNode and everything in its process group (a site dropping out)."""
        proc = self.procs[f"supernode-{site}"]
        self._remember()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    # ---------------------------------------------------------------------------------- a run
    def _flwr(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "flwr"), *args], capture_output=True, text=True, timeout=timeout,
                              env=self._env(self.workdir / "flwr-home"), cwd=self.workdir, start_new_session=True,
                              stdin=subprocess.DEVNULL)

    def submit(self, out: str | Path, *, coordinator: str = SELFTEST, params: Mapping[str, Any] | None = None,
               round_timeout: float = 120.0, connect_timeout: float = 60.0) -> str:
        """Submit latc's app with ``flwr run``; return the run id. The ServerApp writes to ``out``."""
        if self.port is None:
            raise FlowerEngineError("submit: the federation is not started")
        out = Path(out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("flower_run.json", "result.pickle"):
            (out / stale).unlink(missing_ok=True)
        app = self.workdir / "app"
        app.mkdir(parents=True, exist_ok=True)
        (app / "pyproject.toml").write_text(app_pyproject(coordinator=coordinator), encoding="utf-8")
        run_cfg = {"coordinator": coordinator, "out": str(out), "sites": ",".join(self.sites),
                   "round-timeout": float(round_timeout), "connect-timeout": float(connect_timeout),
                   "params": json.dumps(dict(params or {}), sort_keys=True)}
        (self.workdir / "run_config.toml").write_text(_toml(run_cfg), encoding="utf-8")
        argv = ["run", str(app), CONNECTION, "--run-config", str(self.workdir / "run_config.toml"), "--format", "json"]
        self.commands["flwr-run"] = [str(self.bin / "flwr"), *argv]
        t0 = time.monotonic()
        res = self._flwr(*argv)
        self.seconds["submit"] = time.monotonic() - t0
        try:
            info = json.loads(res.stdout[res.stdout.index("{"):])
            run_id = str(info["run-id"])
        except (ValueError, KeyError) as exc:
            raise FlowerEngineError(f"flwr run failed (exit {res.returncode}): {res.stdout.strip()} "
                                    f"{res.stderr.strip()}") from exc
        if not info.get("success") or run_id in ("", "None"):
            raise FlowerEngineError(f"flwr run did not start a run: {res.stdout.strip()}")
        return run_id

    def status(self, run_id: str) -> str:
        """Flower's status of the run (``flwr ls --run-id``), e.g. ``running``, ``finished:completed``."""
        res = self._flwr("ls", CONNECTION, "--run-id", str(run_id), "--format", "json", timeout=30)
        try:
            return str(json.loads(res.stdout[res.stdout.index("{"):])["runs"][0]["status"])
        except (ValueError, KeyError, IndexError):
            return "unknown"

    def stop_run(self, run_id: str) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            self._flwr("stop", run_id, CONNECTION, timeout=30)

    def wait(self, run_id: str, out: str | Path, *, timeout: float = 600.0,
             round_timeout: float = 120.0) -> FlowerRun:
        """Wait (at most ``timeout`` s) for the ServerApp's record; return the run or raise its error
        (:class:`FederatedSiteError` naming the site(s); :class:`FlowerEngineError`)."""
        out = Path(out).resolve()
        rec_path = out / "flower_run.json"
        t0 = time.monotonic()
        deadline = t0 + float(timeout)
        dead: dict[str, tuple[float, int]] = {}
        next_status = t0 + 10.0
        next_scan = t0
        finished_at: float | None = None
        record: dict[str, Any] | None = None
        while record is None:
            if rec_path.exists():
                with contextlib.suppress(ValueError):
                    record = json.loads(rec_path.read_text(encoding="utf-8"))
                    break
            now = time.monotonic()
            if now >= next_scan:  # remember every process of the run, should one be orphaned later
                self._remember()
                next_scan = now + 1.0
            if self.procs["superlink"].poll() is not None:
                raise FlowerEngineError(f"the SuperLink exited (code {self.procs['superlink'].returncode}) during the "
                                        f"run; log {self.logs['superlink']}:\n{_tail(self.logs['superlink'])}")
            for site in self.sites:
                p = self.procs[f"supernode-{site}"]
                if site not in dead and p.poll() is not None:
                    dead[site] = (now, int(p.returncode))
            if dead and now - min(t for t, _ in dead.values()) > round_timeout + 30.0:
                self.stop_run(run_id)
                raise _site_failures({s: f"its SuperNode process exited (code {c}) during the run"
                                      for s, (_, c) in dead.items()})
            if now >= next_status:
                st = self.status(run_id)
                next_status = now + 10.0  # `flwr ls` costs a Python start: only to catch a run without record
                if st.startswith("finished") and finished_at is None:
                    finished_at = now
            if finished_at is not None and now - finished_at > 5.0:
                raise FlowerEngineError(f"run {run_id} ended ({self.status(run_id)}) without latc's record "
                                        f"{rec_path}; ServerApp log in {self.logs['superlink']}")
            if now >= deadline:
                self.stop_run(run_id)
                raise FlowerEngineError(f"run {run_id} did not finish within {timeout:g} s (stopped)")
            time.sleep(0.1)
        self.seconds["run"] = time.monotonic() - t0
        return _finish(record, out, run_id)

    # -------------------------------------------------------------------------------- shutdown
    def _members(self) -> list[Any]:
        """Every live process of this federation: ours, their descendants, and any carrying the tag."""
        import psutil

        found: dict[int, Any] = {}
        for proc in self.procs.values():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(proc.pid)
                found[p.pid] = p
                for c in p.children(recursive=True):
                    found[c.pid] = c
        me = os.getuid() if hasattr(os, "getuid") else None
        for p in psutil.process_iter(["pid", "uids"]):
            if p.pid in found or p.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.Error):
                if me is not None and p.info["uids"] and p.info["uids"].real != me:
                    continue
                if p.environ().get(TAG_ENV) == self.tag:
                    found[p.pid] = p
        return list(found.values())

    def _remember(self) -> None:
        with contextlib.suppress(Exception):
            for p in self._members():
                self._seen.setdefault(p.pid, p)

    def leftovers(self) -> list[str]:
        """Processes of this federation still running (zombies awaiting their parent excluded)."""
        import psutil

        out = []
        cands = {p.pid: p for p in [*self._seen.values(), *self._members()]}
        for p in cands.values():
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(f"{p.pid} {' '.join(p.cmdline())[:200]}")
        return sorted(out)

    def shutdown(self, grace: float = 5.0) -> list[str]:
        """Stop every process (SIGTERM, then SIGKILL after ``grace`` s); return any survivor."""
        import psutil

        if self._closed:
            return self.leftovers()
        self._closed = True
        t0 = time.monotonic()
        with contextlib.suppress(Exception):
            self._remember()
        victims = {p.pid: p for p in self._seen.values()}
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for p in victims.values():
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(list(victims.values()), timeout=grace)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, grace - (time.monotonic() - t0)))
        for p in [*alive, *self._members()]:
            with contextlib.suppress(psutil.Error):
                p.kill()
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=grace)
        psutil.wait_procs(list(victims.values()), timeout=grace)
        self.seconds["shutdown"] = time.monotonic() - t0
        with contextlib.suppress(Exception):
            atexit.unregister(self.shutdown)
        return self.leftovers()

    def __enter__(self) -> "LocalFederation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _site_failures(failures: Mapping[str, str]) -> FederatedSiteError:
    from .server_app import site_error

    return site_error(failures)


_REMOTE_ERRORS: dict[str, type[Exception]] = {"FederatedDisclosureError": FederatedDisclosureError,
                                               "FederatedInputError": FederatedInputError}


def _finish(record: dict[str, Any], out: Path, run_id: str) -> FlowerRun:
    if record.get("status") == "completed":
        result = None
        if (out / "result.pickle").exists():
            with (out / "result.pickle").open("rb") as fh:
                result = pickle.load(fh)  # written by our own ServerApp into our own output folder
        return FlowerRun(out=out, run_id=run_id, record=record, result=result)
    if record.get("error") == "FederatedSiteError":
        raise _site_failures(record.get("failures") or {record["site"]: record["reason"]})
    cls = _REMOTE_ERRORS.get(str(record.get("error")))
    if cls is not None:
        raise cls(str(record.get("message")))
    raise FlowerEngineError(f"the coordinator failed: {record.get('error')}: {record.get('message')}\n"
                            f"{record.get('traceback', '')}")


@contextlib.contextmanager
def _terminated_as_exit():
    """While the federation runs, SIGTERM (``kill``, a scheduler's stop) ends the command through
    ``SystemExit`` so its ``finally`` stops every process it started (Python's default SIGTERM
    handling would exit without it and leave the SuperLink and SuperNodes running)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_flower(sites: Mapping[str, str | Path], out: str | Path, *, coordinator: str = SELFTEST,
               params: Mapping[str, Any] | None = None,
               policy: DisclosurePolicy | Mapping[str, DisclosurePolicy] | None = None,
               release_logs: Mapping[str, str | Path] | None = None, workdir: str | Path | None = None,
               timeout: float = 600.0, round_timeout: float = 120.0, connect_timeout: float = 60.0,
               startup_timeout: float = 60.0) -> FlowerRun:
    """Start the federation (:class:`LocalFederation`, processes and logs in ``workdir``, default
    ``out/engine``), run ``coordinator`` (``module:function``, e.g. :data:`SELFTEST`) over it with
    ``params``, stop every process, return the :class:`FlowerRun` (its ``seconds``: startup, submit,
    run, shutdown). Raises :class:`FederatedSiteError` naming the sites that failed."""
    out = Path(out).resolve()
    fed = LocalFederation(sites, workdir if workdir is not None else out / "engine", policy=policy,
                          release_logs=release_logs, startup_timeout=startup_timeout)
    with _terminated_as_exit():
        try:
            fed.start()
            run_id = fed.submit(out, coordinator=coordinator, params=params, round_timeout=round_timeout,
                                connect_timeout=connect_timeout)
            run = fed.wait(run_id, out, timeout=timeout, round_timeout=round_timeout)
        finally:
            left = fed.shutdown()
    if left:
        raise FlowerEngineError(f"processes left after shutdown: {left}")
    run.seconds, run.commands, run.workdir, run.tag = dict(fed.seconds), dict(fed.commands), fed.workdir, fed.tag
    return run


def run_flower_comparison(site_dirs: Mapping[str, str | Path], logs: Mapping[str, str | Path], out: str | Path, *,
                          policy: DisclosurePolicy | None = None, timeout: float = 1800.0, baseline: bool = True,
                          round_timeout: float = 300.0, journal: str | Path | None = None) -> tuple[Any, dict[str, int]]:
    """The study's comparison (:func:`~latc.federated.run_comparison`) over Flower: each site a
    SuperNode on its own `latc derive` folder (``site_dirs``) writing its release log (``logs``);
    ``journal``: the coordinator's journal (a rerun resumes from it). Returns the
    :class:`~latc.federated.FederatedComparison` and the bytes each site sent."""
    params: dict[str, Any] = {"baseline": bool(baseline)}
    if journal is not None:
        params["journal"] = str(Path(journal).resolve())
    run = run_flower(site_dirs, out, coordinator=COMPARISON, params=params, policy=policy,
                     release_logs=logs, timeout=timeout, round_timeout=round_timeout)
    return run.result, {s: int(v) for s, v in run.record.get("bytes_sent", {}).items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m latc.federated.flower.launcher --site C01=PATH … --out DIR [--coordinator M:F]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m latc.federated.flower.launcher",
                                 description="Run a latc coordinator plan over Flower on loopback.")
    ap.add_argument("--site", action="append", required=True, metavar="NAME=DATA",
                    help="a site and its data (Parquet frame or derived folder); repeat per site")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--coordinator", default=SELFTEST)
    ap.add_argument("--params", default="{}", help="the plan's parameters as JSON")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--round-timeout", type=float, default=120.0)
    a = ap.parse_args(argv)
    sites = dict(s.split("=", 1) for s in a.site)
    try:
        run = run_flower(sites, a.out, coordinator=a.coordinator, params=json.loads(a.params), timeout=a.timeout,
                         round_timeout=a.round_timeout)
    except LatcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"run_id": run.run_id, "status": run.record.get("status"), "rounds": run.record.get("rounds"),
                      "bytes_sent": run.record.get("bytes_sent"), "seconds": run.seconds}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
