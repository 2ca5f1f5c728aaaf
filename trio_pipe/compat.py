"""Pipecat's deprecated spellings, in one place, so the main API reads as plain Trio code.

Pipecat 1.14 still accepts, with a ``DeprecationWarning``, spellings it replaced:
the job keywords ``name=``, ``payload=``, ``timeout=`` and ``cancel_on_error=`` of
``request_job``/``job``/``request_job_group``/``job_group``/
``create_job_group_and_request_job`` (now ``params=JobParams(...)`` /
``JobGroupParams(...)``), ``UIWorker.ui_job_group``/``start_ui_job_group``,
``BusBridgeProcessor(target_task=...)`` (now ``target_worker``) and ``BaseUIWorker``
(now ``UIWorker``). A 1.14 user may still call them, so trio_pipe accepts them too; the
public methods hand them here, where they are checked, warned about and folded into
what the current spelling says. Nothing in this module is needed by code that uses the
current spellings, and it imports no other trio_pipe module.

Drop this module (and the ``**deprecated`` parameters) when Pipecat drops the spellings.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = [
    "JOB_KEYWORDS",
    "UI_GROUP_KEYWORDS",
    "deprecated_class",
    "job_params",
    "renamed_keyword",
    "resolve_job_params",
]

P = TypeVar("P")

#: The deprecated keywords of the single-job methods (``request_job``, ``job``).
JOB_KEYWORDS = frozenset({"name", "payload", "timeout"})
#: The deprecated keywords of the group methods (``request_job_group``, ``job_group``, ...).
GROUP_KEYWORDS = JOB_KEYWORDS | {"cancel_on_error"}
#: The keywords of the deprecated ``UIWorker.ui_job_group``/``start_ui_job_group``.
UI_GROUP_KEYWORDS = GROUP_KEYWORDS | {"label", "cancellable"}


def _check_keywords(method: str, deprecated: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(deprecated) - allowed)
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")


def resolve_job_params(
    params: P | None, params_class: type[P], *, _stacklevel: int = 3, **deprecated: Any
) -> P:
    """Fold the deprecated keyword spelling (``name=``, ``payload=``, ...) into params.

    Keywords that are None were not passed. Passing any of them warns with a
    DeprecationWarning; passing them together with ``params`` raises TypeError.
    """
    passed = {key: value for key, value in deprecated.items() if value is not None}
    if not passed:
        return params if params is not None else params_class()
    if params is not None:
        raise TypeError(f"pass either params or {', '.join(sorted(passed))}, not both")
    warnings.warn(
        f"{', '.join(f'{key}=' for key in sorted(passed))} is deprecated; "
        f"use params={params_class.__name__}(...)",
        DeprecationWarning,
        stacklevel=_stacklevel,
    )
    return params_class(**passed)


def job_params(
    method: str,
    params: P | None,
    params_class: type[P],
    deprecated: Mapping[str, Any],
    *,
    group: bool,
) -> P:
    """The params of a job method called with Pipecat's deprecated keywords (or none).

    ``deprecated`` is the method's ``**deprecated``: an unknown keyword is the TypeError
    Python would raise; a known one warns (pointing at the method's caller).
    """
    _check_keywords(method, deprecated, GROUP_KEYWORDS if group else JOB_KEYWORDS)
    return resolve_job_params(params, params_class, _stacklevel=4, **deprecated)


def ui_group_params(
    method: str, replacement: str, params_class: type[P], deprecated: Mapping[str, Any]
) -> P:
    """The ``JobGroupParams`` of a call to a deprecated ``UIWorker`` group method.

    Warns (pointing at the caller) that ``method`` is deprecated for ``replacement``.
    """
    _check_keywords(method, deprecated, UI_GROUP_KEYWORDS)
    warnings.warn(
        f"UIWorker.{method} is deprecated; use {replacement}", DeprecationWarning, stacklevel=3
    )
    values = {"cancel_on_error": True, "cancellable": True, **deprecated}
    return params_class(**values)


def renamed_keyword(
    where: str, old: str, new: str, old_value: P | None, new_value: P | None
) -> P | None:
    """A keyword Pipecat renamed: warn (pointing at the caller) when the old one is passed;
    the new one wins when both are."""
    if old_value is None:
        return new_value
    warnings.warn(
        f"{where}({old}=...) is deprecated; use {new}=...", DeprecationWarning, stacklevel=3
    )
    return new_value if new_value is not None else old_value


def deprecated_class(old: str, new: str) -> None:
    """Warn (pointing at the code that instantiates it) that class ``old`` is now ``new``."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)
