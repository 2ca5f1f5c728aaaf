"""NaN, infinities and big integers between a live Pipecat 1.14 and trio_pipe (issue 13,
item 5): each side decodes what the other writes to the same values, and with
``allow_nan`` our bytes are the bytes Pipecat writes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from trio_pipe.bus import messages as M
from trio_pipe.serializers import JSONMessageSerializer

PEER = Path(__file__).with_name("pipecat_bus_json_peer.py")
PAYLOAD = {"n": math.nan, "i": math.inf, "m": -math.inf, "big": [2**70 + 1, -(2**63) - 1]}


def check(payload: dict[str, Any]) -> None:
    assert math.isnan(payload["n"])
    assert (payload["i"], payload["m"], payload["big"]) == (math.inf, -math.inf, PAYLOAD["big"])


def test_nan_infinities_and_big_integers_cross_both_ways(pipecat: Any) -> None:
    message = M.BusJobRequestMessage(source="v", job_id="j", payload=PAYLOAD)
    ours = JSONMessageSerializer(allow_nan=True).serialize(message).decode()
    reply = pipecat.run_json(PEER, {"wires": [ours]})
    [described], [reencoded] = reply["described"], reply["reencoded"]
    check(described["fields"]["payload"])  # Pipecat decoded our values
    assert reencoded == ours  # and writes exactly our bytes for them
    check(JSONMessageSerializer().deserialize(reencoded.encode()).payload)  # and we read its
    assert json.loads(reencoded)["__data__"]["payload"]["big"] == PAYLOAD["big"]
