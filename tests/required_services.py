"""What the suite does when a peer or service it needs is missing.

The interop tests need Pipecat 1.14 (``PIPECAT_PYTHON``), some of them its Redis extra,
and the Redis tests need ``redis-server``. A missing one must not turn the run green by
skipping: under CI (``CI`` set to true) it fails the test, with what is missing and how
to get it. Outside CI it fails too, unless the developer opted out explicitly with the
variable named for it (``TRIO_PIPE_NO_PIPECAT=1``, ``TRIO_PIPE_NO_REDIS=1``); then it
skips. CI ignores the opt-outs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NoReturn

import pytest

#: Opt-out variables, by what they let a local run skip.
NO_PIPECAT = "TRIO_PIPE_NO_PIPECAT"
NO_REDIS = "TRIO_PIPE_NO_REDIS"

PIPECAT_VERSION = "1.14.0"
ROOT = Path(__file__).resolve().parents[1]

_TRUE = {"1", "true", "yes", "on"}


def in_ci(env: Mapping[str, str]) -> bool:
    """Whether ``env`` says this is a CI run (CI=true, as GitHub Actions and most set)."""
    return env.get("CI", "").strip().lower() in _TRUE


def decide(env: Mapping[str, str], opt_out: str) -> Literal["fail", "skip"]:
    """Fail or skip a test whose peer or service is missing (see the module doc)."""
    if in_ci(env):
        return "fail"
    return "skip" if env.get(opt_out, "").strip().lower() in _TRUE else "fail"


def missing(what: str, fix: str, opt_out: str, env: Mapping[str, str] | None = None) -> NoReturn:
    """Fail (or, opted out outside CI, skip) the current test: ``what`` is missing."""
    env = os.environ if env is None else env
    if decide(env, opt_out) == "skip":
        pytest.skip(f"{what} ({opt_out} is set)")
    why = "CI=true, so nothing may be skipped" if in_ci(env) else f"or set {opt_out}=1 to skip"
    pytest.fail(f"{what}: {fix} ({why})", pytrace=False)


def pipecat_interpreter(env: Mapping[str, str] | None = None) -> str:
    """The Python with pipecat-ai 1.14: ``PIPECAT_PYTHON``, else ``.venv-pipecat`` (what
    ``scripts/test`` makes); fails or skips the test (:func:`missing`) when there is none,
    it does not run, or its Pipecat is another version."""
    env = os.environ if env is None else env
    fix = "run bash scripts/test (it makes .venv-pipecat) or set PIPECAT_PYTHON"
    python = env.get("PIPECAT_PYTHON") or ""
    if not python:
        local = ROOT / ".venv-pipecat" / "bin" / "python"
        if not local.exists():
            missing("the Pipecat 1.14 peer is not set up", fix, NO_PIPECAT, env)
        python = str(local)
    version = _pipecat_version(python)
    if version != PIPECAT_VERSION:
        found = f"has pipecat-ai {version}" if version else "does not run or lacks pipecat-ai"
        missing(f"the Pipecat peer {python} {found}", fix, NO_PIPECAT, env)
    return python


def _pipecat_version(python: str) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('pipecat-ai'))"
    try:
        done = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None
