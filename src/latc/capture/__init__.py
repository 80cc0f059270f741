"""``latc capture``: the audited multicenter web data capture (a Django application).

Nothing here imports Django at package import time, so ``import latc.cli`` and the batch commands
stay Django-free. Start with :func:`latc.capture.settings.configure`, then use
:mod:`latc.capture.services` (every write, with its audit entries, in one transaction) and
:mod:`latc.capture.scoping` (the one place where roles and centers decide what a user sees).
See docs/capture.md and CONTRACT.md beside this file.
"""
