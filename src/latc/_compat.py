"""Deprecation helpers for the public API (one release of grace, listed in CHANGELOG.md)."""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Mapping
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


def tables_deprecated(*names: str) -> Callable[[F], F]:
    """Let a derivation that now takes its study tables as one mapping be called the old way for a release.

    ``func`` takes ``tables: Mapping[str, pd.DataFrame]`` (form name → table, as ``derive_tte``) as
    its first parameter. ``names`` are the tables it used to take one by one, in their old
    positional order. A call that passes a table (anything that is neither a mapping nor an object
    with a ``tables`` mapping, such as a ``Study``) first, or passes one of ``names`` by keyword, is
    turned into the mapping call and warns (``DeprecationWarning``, spelling the new call); a
    ``None`` table stays ``None`` (absent). Everything else is passed through untouched.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            by_keyword = [n for n in names if n in kwargs]
            if not by_keyword and (not args or _is_tables(args[0])):
                return func(*args, **kwargs)
            if len(args) > len(names):
                raise TypeError(f"{func.__name__}() takes the study tables {', '.join(names)} "
                                f"but {len(args)} were given positionally")
            given = dict(zip(names, args))
            twice = [n for n in by_keyword if n in given]
            if twice:
                raise TypeError(f"{func.__name__}() got multiple values for {', '.join(twice)}")
            given.update((n, kwargs.pop(n)) for n in by_keyword)
            spelled = ", ".join(f'"{n}": {n}' for n in names if n in given)
            warnings.warn(f"{func.__name__}(): pass the study tables as one mapping (form name → DataFrame), "
                          f"{func.__name__}({{{spelled}}}, …) or {func.__name__}(study.tables, …); passing "
                          "them one by one is deprecated and stops working in the next release",
                          DeprecationWarning, stacklevel=2)
            return func(given, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _is_tables(value: Any) -> bool:
    """A mapping of tables, or an object carrying one as ``.tables`` (``latc.io.Study``)."""
    return isinstance(value, Mapping) or isinstance(getattr(value, "tables", None), Mapping)


def moved(module: str, new_homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names that moved to another module (one release of grace).

    ``new_homes`` maps each old name to the module it now lives in; reading it from ``module``
    warns (``DeprecationWarning`` naming the new import) and returns the object from its new home.
    """

    def __getattr__(name: str) -> Any:
        home = new_homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{name} moved to {home}: use `from {home} import {name}`; the old "
                      "location is deprecated and stops working in the next release", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(home), name)

    return __getattr__
