"""Deprecation helpers for the public API (one release of grace, listed in CHANGELOG.md)."""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def positional_deprecated(func: F) -> F:
    """Let callers pass the now keyword-only parameters positionally for one more release.

    ``func`` declares its options keyword-only (``def cox(df, time, event, covariates, *, strata=None,
    …)``, as scanpy does) in the order they used to be positional. A call with more positional
    arguments than ``func`` takes maps the extra ones onto the keyword-only parameters in that order
    and warns (``DeprecationWarning``, naming them); everything else is passed through untouched.
    """
    return _keyword_options(func, accept=True)


def keyword_hint(func: F) -> F:
    """For options that were always keyword-only: a call that passes them by position gets a
    ``TypeError`` naming the keywords (``rmst(): pass tau by keyword (tau=…)``) instead of Python's
    "takes 4 positional arguments but 5 were given"."""
    return _keyword_options(func, accept=False)


def _keyword_options(func: F, *, accept: bool) -> F:
    sig = inspect.signature(func)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    n_positional = sum(p.kind in kinds for p in sig.parameters.values())
    keyword_only = [p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > n_positional:
            extra = args[n_positional:]
            if len(extra) > len(keyword_only):
                raise TypeError(f"{func.__name__}() takes {n_positional} positional arguments "
                                f"and {len(keyword_only)} keyword-only ones but {len(args)} were given positionally")
            names = keyword_only[:len(extra)]
            spelled = ", ".join(f"{n}=…" for n in names)
            if not accept:
                raise TypeError(f"{func.__name__}(): pass {', '.join(names)} by keyword ({spelled})")
            twice = [n for n in names if n in kwargs]
            if twice:
                raise TypeError(f"{func.__name__}() got multiple values for {', '.join(twice)}")
            warnings.warn(f"{func.__name__}(): pass {', '.join(names)} by keyword "
                          f"({spelled}); passing them by position is deprecated "
                          "and stops working in the next release", DeprecationWarning, stacklevel=2)
            kwargs.update(zip(names, extra))
            args = args[:n_positional]
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
