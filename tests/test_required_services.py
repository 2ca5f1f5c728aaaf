"""A missing Pipecat peer or Redis fails the run under CI; only a local opt-out skips."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _pytest.outcomes import Failed, Skipped
from required_services import NO_PIPECAT, NO_REDIS, ROOT, decide, missing, pipecat_interpreter


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "fail"),  # nobody opted out: a missing peer is an error
        ({NO_PIPECAT: "1"}, "skip"),
        ({NO_REDIS: "1"}, "fail"),  # the other service's opt-out does not count
        ({"CI": "true", NO_PIPECAT: "1"}, "fail"),  # CI ignores the opt-out
        ({"CI": "1"}, "fail"),
        ({"CI": "false", NO_PIPECAT: "true"}, "skip"),
    ],
)
def test_decide(env: dict[str, str], expected: str) -> None:
    assert decide(env, NO_PIPECAT) == expected


def test_missing_under_ci_fails_with_what_and_how() -> None:
    with pytest.raises(Failed, match=r"redis-server is not installed: apt-get .*CI=true"):
        missing("redis-server is not installed", "apt-get install it", NO_REDIS, {"CI": "true"})


def test_missing_opted_out_locally_skips() -> None:
    with pytest.raises(Skipped, match="TRIO_PIPE_NO_REDIS is set"):
        missing("redis-server is not installed", "apt-get install it", NO_REDIS, {NO_REDIS: "1"})


def test_a_peer_that_does_not_run_is_missing() -> None:
    env = {"CI": "true", "PIPECAT_PYTHON": "/nonexistent/python"}
    with pytest.raises(Failed, match="/nonexistent/python does not run"):
        pipecat_interpreter(env)


def test_a_python_without_pipecat_is_missing() -> None:
    env = {"CI": "true", "PIPECAT_PYTHON": sys.executable}  # trio_pipe's: no pipecat-ai
    with pytest.raises(Failed, match="lacks pipecat-ai"):
        pipecat_interpreter(env)


INTEROP = "tests/interop/test_frame_serializer_interop.py"


def test_ci_run_of_the_interop_tests_fails_without_the_peer(tmp_path) -> None:
    # The whole chain, as CI runs it: conftest, fixture, exit status.
    env = {"CI": "true", "PIPECAT_PYTHON": "/nonexistent/python", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", INTEROP],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "CI=true, so nothing may be skipped" in done.stdout
