"""Fixtures for the bus message serializer tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trio_pipe.serializers import JSONMessageSerializer

VECTORS = Path(__file__).parent.parent / "vectors" / "bus_json.jsonl"


def load_vectors() -> list[dict[str, Any]]:
    """The 30 messages exactly as Pipecat 1.14 serialized them: ``{"case", "wire"}``."""
    return [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]


@pytest.fixture
def serializer() -> JSONMessageSerializer:
    """A JSON message serializer on the default registry."""
    return JSONMessageSerializer()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize any test taking ``bus_vector`` over the Pipecat vectors."""
    if "bus_vector" in metafunc.fixturenames:
        vectors = load_vectors()
        metafunc.parametrize("bus_vector", vectors, ids=[v["case"] for v in vectors])
