"""copy.copy of a bus message: BusMessage.__copy__ (field by field, not __reduce_ex__)."""

from __future__ import annotations

import copy

import attrs

from trio_pipe.bus.messages import (
    BusJobResponseMessage,
    BusMessage,
    BusTTSSpeakMessage,
    JobStatus,
)


def test_a_copy_has_every_field_and_is_a_separate_object():
    original = BusJobResponseMessage(
        job_id="j1",
        status=JobStatus.COMPLETED,
        response={"i": 1},
        source="worker",
        target="voice@gw-1",
    )
    wire = copy.copy(original)
    assert type(wire) is BusJobResponseMessage and wire is not original
    assert attrs.asdict(wire, recurse=False) == attrs.asdict(original, recurse=False)
    assert (wire.id, wire.name) == (original.id, original.name)  # a copy, not a new message
    assert wire.response is original.response  # shallow, as copy.copy is
    wire.target = "voice"
    wire.job_id = "j1-short"
    assert (original.target, original.job_id) == ("voice@gw-1", "j1")


def test_every_message_class_copies_through_the_fast_path():
    speak = BusTTSSpeakMessage(text="hi", source="a", target="b")
    assert type(speak).__copy__ is BusMessage.__copy__
    copied = copy.copy(speak)
    assert copied == speak and copied.text == "hi" and copied is not speak


def test_an_application_class_with_setattr_hooks_copies_without_running_them():
    calls = []

    @attrs.define(eq=True)
    class Checked(BusMessage):
        level: int = attrs.field(default=0, validator=lambda *_: calls.append(1))

    original = Checked(level=3, source="a")
    calls.clear()
    copied = copy.copy(original)
    assert copied == original and copied is not original and copied.level == 3
    assert calls == []  # the value is already the field's: nothing to check again
    copied.level = 4  # the class's own hooks still run on later changes
    assert calls == [1] and original.level == 3
