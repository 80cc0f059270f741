"""A REDCap-compatible API at ``/api/`` (docs/capture_api.md).

Scripts written against REDCap's API (PyCap, REDCapR, curl) talk to ``latc capture`` unchanged:
one POST endpoint, form-encoded, ``token=…&content=…&format=json|csv|xml&returnFormat=…``.
The token stands for one user (:class:`latc.capture.models.ApiToken`); every call is scoped
exactly like that user's web pages (:mod:`latc.capture.scoping`).

Modules: :mod:`~latc.capture.api.dispatch` (the view: token, rate limits, errors, routing),
:mod:`~latc.capture.api.tokens` (make, list, revoke), and one module per group of ``content``
values, each registering its handlers with :func:`~latc.capture.api.dispatch.handler`.
"""
