"""latc — the LATC neoadjuvant study platform.

Stages, each reading only what the stage before it wrote:
``dictionary`` → ``io`` → ``validate`` → ``derive`` → ``stats`` → ``plot``/``report``;
``omics`` for the biospecimen-linked biomarker layer.
"""

__version__ = "0.1.0"
