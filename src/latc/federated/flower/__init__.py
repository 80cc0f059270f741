"""Flower's Deployment Engine carrying latc's federated protocol (issue 14).

The protocol (:mod:`latc.federated._protocol`) is engine-independent: a coordinator asks the sites one
round at a time through a :class:`~latc.federated.Channel`, and a site is a
:class:`~latc.federated.SiteRuntime` whose ``handle(request_json) -> message_json`` is all an engine
calls. Here Flower carries that JSON:

* :mod:`.client_app` — the ClientApp a site's SuperNode runs (``node_config``: site, data, release log,
  disclosure policy);
* :mod:`.server_app` — the ServerApp: :class:`~.server_app.FlowerChannel` over Flower's ``Grid``,
  running the coordinator plan named in the run config;
* :mod:`.launcher` — a SuperLink and one SuperNode per site as local processes on loopback,
  ``flwr run``, a bounded wait and a shutdown that leaves no process behind
  (:func:`~.launcher.run_flower`, :func:`~.launcher.run_flower_comparison`).

Importing this package does not import Flower; :mod:`.client_app` and :mod:`.server_app` do.
"""

from __future__ import annotations

from .launcher import (COMPARISON, SELFTEST, FlowerEngineError, FlowerRun, LocalFederation, run_flower,
                       run_flower_comparison)

__all__ = ["COMPARISON", "SELFTEST", "FlowerEngineError", "FlowerRun", "LocalFederation", "run_flower",
           "run_flower_comparison"]
