"""Federated analysis: the pooled ``latc.stats`` results without pooling the patients (issue 14).

Statistics as plain numpy functions in two halves, independent of any message engine:

* ``site_*`` — one center's local ``latc derive`` rows → a :class:`Message` of sufficient
  statistics (plain data; :meth:`Message.to_json`), after the site's disclosure check
  (:class:`DisclosurePolicy`: allow-list, minimum cell count 3 as DataSHIELD's ``nfilter.tab``);
* ``combine_*`` — the coordinator: combine the sites' messages (iterating where needed) into the
  result :mod:`latc.stats` computes on the pooled rows (equal to rounding, not a meta-analysis).

Every site message can be logged with :func:`release_record`. See docs/federated.md.
A run is a conversation in rounds (``_protocol``): the coordinator sends :class:`Request` s, each
site's :class:`SiteRuntime` answers with a message and records it in its release log, and a
:class:`Channel` carries the round (:class:`LocalChannel` in-process). :func:`run_comparison` is
the study's comparison (propensity model, IPTW / overlap / adjusted Cox stratified by center,
Kaplan–Meier and log-rank by cohort), equal to pooled `latc analyze`.
"""

from ._balance import balance_rows, combine_balance, combine_effective_sample_size, site_balance, site_weights
from ._cox import (combine_cox_robust, combine_cox_step, combine_cox_webdisco_step, cox_summary, newton_cox,
                   site_cox_stratified_robust, site_cox_stratified_step, site_cox_webdisco_robust,
                   site_cox_webdisco_step)
from ._descriptive import (combine_counts, combine_moments, combine_quantiles, combine_response_rates,
                           site_counts, site_histogram, site_moments, site_response_rates)
from ._design import combine_levels, site_design, site_levels
from ._disclosure import (DEFAULT_ALLOWED, DisclosurePolicy, FederatedDisclosureError, FederatedInputError,
                          check_messages)
from ._logistic import combine_logistic_step, newton_logistic, site_logistic_step, site_propensity
from ._messages import Message, canonical_json, release_record, transport
from ._site import derived_by_site, site_rows, split_by_site
from ._protocol import Channel, FederatedSiteError, LocalChannel, Request, SiteRuntime
from . import _steps as _steps  # noqa: F401 - registers the site steps
from . import _baseline as _baseline  # noqa: F401 - registers the table_one step
from ._journal import JournalChannel, JournalMismatch
from ._comparison import FederatedComparison, run_comparison, site_comparison_frame, site_runtime
from ._survival import (coarsen_times, combine_km, combine_logrank, combine_time_grid, site_km_counts,
                        site_km_times)

__all__ = [
    "Channel", "FederatedComparison", "FederatedSiteError", "LocalChannel", "Request", "SiteRuntime",
    "run_comparison", "site_comparison_frame", "site_runtime", "derived_by_site", "JournalChannel", "JournalMismatch",
    "DEFAULT_ALLOWED", "balance_rows", "combine_balance", "combine_effective_sample_size", "site_balance", "site_weights", "DisclosurePolicy", "FederatedDisclosureError", "FederatedInputError", "Message",
    "canonical_json", "check_messages", "coarsen_times", "combine_counts", "combine_cox_robust",
    "combine_cox_step", "combine_cox_webdisco_step", "combine_km", "combine_levels", "combine_logistic_step",
    "combine_logrank", "combine_moments", "combine_quantiles", "combine_response_rates", "combine_time_grid",
    "cox_summary", "newton_cox", "newton_logistic", "release_record", "site_counts", "site_cox_stratified_robust",
    "site_cox_stratified_step", "site_cox_webdisco_robust", "site_cox_webdisco_step", "site_design",
    "site_histogram", "site_km_counts", "site_km_times", "site_levels", "site_logistic_step", "site_moments",
    "site_propensity", "site_response_rates", "site_rows", "split_by_site", "transport",
]
