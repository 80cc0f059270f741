"""The web user interface of ``latc capture``: pages generated from the data dictionary.

Every view reads patient data through :mod:`latc.capture.scoping` and writes through
:mod:`latc.capture.services`; each view declares its access rule (:func:`latc.capture.web.access.rule`)
and ``tests/test_capture_web_access.py`` checks every route against an explicit role × route table.
"""
