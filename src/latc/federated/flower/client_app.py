"""latc's Flower ClientApp: a site answering the coordinator's requests (one SuperNode per site).

The SuperNode's ``node_config`` names the site and its data (:data:`~latc.federated.flower._wire.NODE_KEYS`);
each incoming message carries one :class:`~latc.federated.Request` as JSON in the ConfigRecord
``"latc"``. The query function builds the site's :class:`~latc.federated.SiteRuntime` (once per
process and run), calls ``runtime.handle(request_json)`` — the disclosure checks and the release log
are the runtime's — and replies with the message JSON. A site that cannot answer (its data missing or
unreadable, a step it refuses, a bug) replies with ``{"site", "error"}`` instead, so the coordinator
names it at once rather than waiting for a timeout.

**State between messages.** Flower 1.42's SuperNode starts a fresh ``flwr-clientapp`` process for
every message (``--isolation subprocess``), so a runtime's local results (``runtime.frame`` with the
propensity scores and weights a ``weights`` step adds, ``runtime.state``) would be lost between rounds.
They are kept in Flower's per-run ``context.state`` (the ConfigRecord ``"latc-site-state"``), which the
SuperNode holds in its own memory at the site and never sends to the SuperLink.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from .._protocol import SiteRuntime
from ._wire import RECORD, STATE_RECORD, policy_from_node_config, runtime_from_node_config

__all__ = ["app"]

log = logging.getLogger("latc.federated.flower")

app = ClientApp()

#: (run id, node_config items) → the runtime built in this process
_RUNTIMES: dict[tuple, SiteRuntime] = {}


def _key(context: Context) -> tuple:
    return (int(context.run_id), tuple(sorted((str(k), str(v)) for k, v in context.node_config.items())))


def _runtime(context: Context) -> SiteRuntime:
    """This site's runtime for the run: cached in this process, else restored from ``context.state``
    (a later message of the run: no need to read the data again), else built from the node config."""
    key = _key(context)
    rt = _RUNTIMES.get(key)
    if rt is not None:
        return rt
    cfg = context.node_config
    saved = context.state.config_records.get(STATE_RECORD)
    if saved is not None and int(saved["run_id"]) == int(context.run_id):  # type: ignore[call-overload]
        kept = pickle.loads(saved["pickle"])  # type: ignore[arg-type]  # written by this site in _keep
        if kept["site"] != str(cfg.get("site")):
            raise ValueError(f"site {cfg.get('site')!r}: the kept state belongs to site {kept['site']!r}")
        rt = SiteRuntime(kept["site"], kept["frame"], policy=policy_from_node_config(cfg),
                         release_log=cfg.get("release-log") or None)
        rt.state, rt.sent = kept["state"], kept["sent"]
    else:
        rt = runtime_from_node_config(cfg)
    _RUNTIMES.clear()
    _RUNTIMES[key] = rt
    return rt


def _keep(rt: SiteRuntime, context: Context) -> None:
    blob = pickle.dumps({"site": rt.site, "frame": rt.frame, "state": rt.state, "sent": rt.sent},
                        protocol=pickle.HIGHEST_PROTOCOL)
    context.state[STATE_RECORD] = ConfigRecord({"run_id": int(context.run_id), "pickle": blob})


def _reply(msg: Message, fields: dict[str, Any]) -> Message:
    return Message(RecordDict({RECORD: ConfigRecord(fields)}), reply_to=msg)


@app.query()
def query(msg: Message, context: Context) -> Message:
    """One request → one reply (the site's message JSON, or the reason it could not answer)."""
    site = str(context.node_config.get("site", f"node {context.node_id}"))
    try:
        request_json = str(msg.content[RECORD]["request"])  # type: ignore[index]
        rt = _runtime(context)
        rt.run_id = str(context.run_id)
        reply = rt.handle(request_json)
        _keep(rt, context)
    except Exception as exc:  # every failure goes back to the coordinator, naming this site
        log.exception("site %r could not answer", site)
        return _reply(msg, {"site": site, "error": f"{type(exc).__name__}: {exc}"})
    return _reply(msg, {"site": rt.site, "message": reply})
