"""The site steps a coordinator may request (``Request.step`` → site function).

Each step runs at the site on its own rows (``runtime.frame``) through the ``site_*`` functions of
this package, under the site's disclosure policy, and returns one :class:`~latc.federated.Message`.
Local results a later step needs (propensity scores, weights) are kept in ``runtime.state`` and
never sent.
"""

from __future__ import annotations

from ._descriptive import site_counts
from ._messages import Message
from ._protocol import SiteRuntime, site_step

__all__: list[str] = []


@site_step("hello")
def hello(rt: SiteRuntime) -> Message:
    """The site's name and the analyses it allows (no data): how a coordinator learns who is who."""
    return Message("hello", rt.site, "hello", {"site": rt.site, "allowed": sorted(rt.policy.allowed)})


@site_step("counts")
def counts(rt: SiteRuntime, variable: str, by: str | None = "cohort") -> Message:
    """Counts of ``variable``'s levels per ``by`` group (:func:`~latc.federated.site_counts`)."""
    return site_counts(rt.frame, variable, by, site=rt.site, policy=rt.policy)
