"""latc's Flower ServerApp: the coordinator, talking to the sites through Flower's Grid.

:class:`FlowerChannel` is the :class:`~latc.federated.Channel` of Flower's Deployment Engine:

* ``sites()`` waits (bounded) until the expected SuperNodes are connected, then learns which node is
  which site from a first ``hello`` round (each site answers with its name);
* ``ask({site: Request})`` sends one Flower message per site (the request JSON in the ConfigRecord
  ``"latc"``), collects the replies with a bounded wait and maps them back to site names. A site that
  does not answer in time, or answers with an error (its own, or Flower's — e.g. node unavailable),
  raises :class:`~latc.federated.FederatedSiteError` naming it (and every other failing site).

The ServerApp's ``main`` runs the coordinator function named in the run config (``coordinator``, a
dotted path ``module:function`` called as ``fn(channel, out=Path, config=dict)``) and writes into the
run config's ``out`` folder: ``flower_run.json`` (status, sites, rounds, messages and bytes per site,
seconds, the error if any) and ``result.pickle`` (the function's return value, if not None).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from .._messages import Message as SiteMessage
from .._protocol import FederatedSiteError, Request
from ._wire import MESSAGE_TYPE, RECORD

__all__ = ["FlowerChannel", "app", "site_error"]

#: seconds between two polls of the SuperLink for a reply (Grid.send_and_receive polls every 3 s)
POLL_SECONDS = 0.2


def site_error(failures: Mapping[str, str]) -> FederatedSiteError:
    """One :class:`FederatedSiteError` naming every failing site (``failures``: site → reason);
    ``.site`` is the first of them, ``.failures`` all."""
    names = sorted(failures)
    reason = failures[names[0]] + "".join(f"; site {s!r}: {failures[s]}" for s in names[1:])
    err = FederatedSiteError(names[0], reason)
    err.failures = dict(failures)  # type: ignore[attr-defined]
    return err


class FlowerChannel:
    """The :class:`~latc.federated.Channel` over a Flower ``Grid`` (module docstring).

    ``expected``: the site names that must take part (empty: whichever nodes are connected);
    ``timeout``: seconds a round may take; ``connect_timeout``: seconds to wait for the SuperNodes.
    ``received[site]`` lists, per reply, its round, step, size and the SHA-256 of the JSON text
    received — what the site's release log must list.
    """

    def __init__(self, grid: Grid, *, expected: list[str] | tuple[str, ...] = (), timeout: float = 120.0,
                 connect_timeout: float = 120.0, poll: float = POLL_SECONDS) -> None:
        self.grid = grid
        self.expected = sorted(str(s) for s in expected)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.poll = float(poll)
        self.node_of: dict[str, int] = {}
        self.bytes_sent: dict[str, int] = {}
        self.messages: dict[str, int] = {}
        self.received: dict[str, list[dict]] = {}
        self.round_seconds: list[float] = []
        self._discovered = False

    # ------------------------------------------------------------------------------------ sites
    def sites(self) -> list[str]:
        if not self._discovered:
            self._discover()
        return sorted(self.node_of)

    def _wait_for_nodes(self) -> list[int]:
        deadline = time.monotonic() + self.connect_timeout
        want = max(len(self.expected), 1)
        while True:
            nodes = sorted(int(n) for n in self.grid.get_node_ids())
            if len(nodes) >= want or time.monotonic() >= deadline:
                return nodes
            time.sleep(0.2)

    def _discover(self) -> None:
        nodes = self._wait_for_nodes()
        if not nodes:
            raise site_error({s: f"did not connect within {self.connect_timeout:g} s" for s in self.expected}
                             or {"(none)": f"no SuperNode connected within {self.connect_timeout:g} s"})
        hello = Request("hello", {}, 0).to_json()
        replies, failures = self._exchange({f"node {n}": (n, hello, 0) for n in nodes})
        silent = {k: r for k, r in failures.items() if k.startswith("node ")}  # no name known for these
        failures = {k: r for k, r in failures.items() if not k.startswith("node ")}
        names: dict[str, int] = {}
        for label, (text, site) in replies.items():
            node = int(label.split()[1])
            if site in names:
                failures[site] = f"two SuperNodes ({names[site]}, {node}) both answer as this site"
            elif self.expected and site not in self.expected:
                failures[site] = f"is not one of the expected sites {self.expected} (node {node})"
            else:
                names[site] = node
                self._count(site, text, 0, "hello")
        for s in (s for s in self.expected if s not in names and s not in failures):
            failures[s] = ("did not answer the first round (" + "; ".join(f"{k} {r}" for k, r in silent.items()) + ")"
                           if silent else f"did not connect within {self.connect_timeout:g} s "
                           f"({len(nodes)} SuperNode(s) connected: {sorted(names)})")
        if not self.expected:
            failures.update(silent)
        if failures:
            raise site_error(failures)
        self.node_of = names
        self._discovered = True

    # ------------------------------------------------------------------------------------ rounds
    def ask(self, requests: Mapping[str, Request]) -> dict[str, SiteMessage]:
        self.sites()
        unknown = {s: "is not connected (not one of the sites of this run)" for s in requests if s not in self.node_of}
        if unknown:
            raise site_error(unknown)
        t0 = time.monotonic()
        batch = {s: (self.node_of[s], r.to_json(), int(r.round)) for s, r in requests.items()}
        replies, failures = self._exchange(batch)
        out: dict[str, SiteMessage] = {}
        for site, (text, answered_as) in replies.items():
            if answered_as != site:
                failures[site] = f"its SuperNode answered as site {answered_as!r}"
                continue
            try:
                msg = SiteMessage.from_json(text)
            except (ValueError, KeyError, TypeError) as exc:
                failures[site] = f"sent an unreadable message ({type(exc).__name__}: {exc})"
                continue
            if msg.site != site:
                failures[site] = f"sent a message signed by site {msg.site!r}"
                continue
            self._count(site, text, int(requests[site].round), requests[site].step)
            out[site] = msg
        self.round_seconds.append(time.monotonic() - t0)
        if failures:
            raise site_error(failures)
        return out

    def _count(self, site: str, text: str, rnd: int, step: str) -> None:
        data = text.encode("utf-8")
        self.bytes_sent[site] = self.bytes_sent.get(site, 0) + len(data)
        self.messages[site] = self.messages.get(site, 0) + 1
        self.received.setdefault(site, []).append({"round": rnd, "step": step, "n_bytes": len(data),
                                                   "sha256": hashlib.sha256(data).hexdigest()})

    def _exchange(self, batch: Mapping[str, tuple[int, str, int]]) -> tuple[dict[str, tuple[str, str]],
                                                                             dict[str, str]]:
        """Send ``{key: (node id, request JSON, round)}``; return ``({key: (reply JSON, site it
        answered as)}, {key: failure reason})`` after every reply or ``timeout`` seconds.

        Each reply is pulled by its own (daemon) thread: ``Grid.pull_messages`` waits up to two hours
        for the content of a reply whose sender died while uploading it (Flower 1.42's
        ``PULL_MAX_TIME``), and one such site must not hold up the round — it is named instead."""
        keys = list(batch)
        ttl = max(3 * self.timeout, 60.0)
        msgs = [Message(RecordDict({RECORD: ConfigRecord({"request": text})}), dst_node_id=node,
                        message_type=MESSAGE_TYPE, group_id=str(rnd), ttl=ttl)
                for node, text, rnd in (batch[k] for k in keys)]
        ids = list(self.grid.push_messages(msgs))
        failures: dict[str, str] = {}
        got: dict[str, Any] = {}
        pulling_since: dict[str, float] = {}
        stop = threading.Event()

        def pull(mid: str, key: str) -> None:
            while not stop.is_set():
                pulling_since[key] = time.monotonic()
                try:
                    found = [m for m in self.grid.pull_messages([mid])
                             if str(m.metadata.reply_to_message_id) == mid]
                except Exception as exc:  # the SuperLink's answer, for this site only
                    got[key] = exc
                    return
                finally:
                    pulling_since.pop(key, None)
                if found:
                    got[key] = found[0]
                    return
                stop.wait(self.poll)

        threads = []
        for k, mid in zip(keys, ids, strict=True):
            if not mid:
                failures[k] = "the SuperLink did not accept the request for it"
                continue
            t = threading.Thread(target=pull, args=(str(mid), k), name=f"latc-pull-{k}", daemon=True)
            t.start()
            threads.append((k, t))
        deadline = time.monotonic() + self.timeout
        for _, t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        stop.set()
        replies: dict[str, tuple[str, str]] = {}
        for k, t in threads:
            reply = got.get(k)
            if reply is None:
                since = pulling_since.get(k)
                failures[k] = (f"did not answer within {self.timeout:g} s (stopped, unreachable or too slow)"
                               if since is None or time.monotonic() - since < 2 * self.poll + 1 else
                               f"did not answer within {self.timeout:g} s (its reply never arrived complete: "
                               "stopped while sending it?)")
            elif isinstance(reply, Exception):
                failures[k] = f"its reply could not be pulled ({type(reply).__name__}: {reply})"
            elif reply.has_error():
                failures[k] = f"Flower error {reply.error.code}: {reply.error.reason}"
            elif (rec := reply.content.config_records.get(RECORD)) is None:
                failures[k] = "replied without latc's record"
            elif "error" in rec:
                failures[str(rec.get("site", k))] = f"answered with an error: {rec['error']}"
            else:
                replies[k] = (str(rec["message"]), str(rec.get("site", "")))
        return replies, failures

    def summary(self) -> dict[str, Any]:
        return {"sites": sorted(self.node_of), "nodes": dict(sorted(self.node_of.items())),
                "rounds": len(self.round_seconds), "messages": dict(sorted(self.messages.items())),
                "bytes_sent": dict(sorted(self.bytes_sent.items())),
                "round_seconds": [round(s, 3) for s in self.round_seconds],
                "received": {s: v for s, v in sorted(self.received.items())}}


def load_function(ref: str) -> Callable[..., Any]:
    """``"package.module:function"`` (or ``package.module.function``) → the function."""
    module, sep, attr = ref.partition(":")
    if not sep:
        module, _, attr = ref.rpartition(".")
    if not module or not attr:
        raise ValueError(f"coordinator {ref!r}: expected 'package.module:function'")
    fn = importlib.import_module(module)
    for part in attr.split("."):
        fn = getattr(fn, part)
    if not callable(fn):
        raise TypeError(f"coordinator {ref!r} is not callable")
    return fn  # type: ignore[return-value]


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the coordinator named in the run config over a :class:`FlowerChannel`."""
    cfg = dict(context.run_config)
    out = Path(str(cfg.get("out") or "."))
    out.mkdir(parents=True, exist_ok=True)
    expected = [s.strip() for s in str(cfg.get("sites", "")).split(",") if s.strip()]
    channel = FlowerChannel(grid, expected=expected, timeout=float(cfg.get("round-timeout", 120.0)),
                            connect_timeout=float(cfg.get("connect-timeout", 120.0)))
    record: dict[str, Any] = {"status": "running", "run_id": int(context.run_id), "coordinator": cfg.get("coordinator")}
    t0 = time.monotonic()
    try:
        fn = load_function(str(cfg["coordinator"]))
        params = json.loads(str(cfg.get("params") or "{}"))
        result = fn(channel, out=out, config={**cfg, "params": params})
        if result is not None:
            with (out / "result.pickle.tmp").open("wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
            (out / "result.pickle.tmp").replace(out / "result.pickle")
        record["status"] = "completed"
    except FederatedSiteError as exc:
        record.update(status="failed", error="FederatedSiteError", site=exc.site, reason=exc.reason,
                      failures=getattr(exc, "failures", {exc.site: exc.reason}), message=str(exc))
        raise
    except Exception as exc:
        record.update(status="failed", error=type(exc).__name__, message=str(exc), traceback=traceback.format_exc())
        raise
    finally:
        record.update(channel.summary(), seconds=round(time.monotonic() - t0, 3))
        _write_json(out / "flower_run.json", record)
