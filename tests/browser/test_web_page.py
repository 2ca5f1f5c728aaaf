"""The page `trio-pipe serve --web` serves, in a real Chromium with a fake microphone.

Pipecat's JavaScript client (bundled in the page) talks to a turn-taking echo bot over a
real socket: trio_pipe's, then (interop) a Pipecat 1.14 one. The microphone plays a WAV
file once: silence, a 1.5 s utterance, a pause while the bot says it back, then a second
utterance over the reply (barge-in). The page records the RTVI events and the bot audio
(chunks received, and the level its WebAudio player produces); the test reads them
through Selenium.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path
from typing import Any

import trio
from browser_helpers import chromium, chromium_paths
from required_services import pipecat_interpreter

from trio_pipe.audio import resample_once
from trio_pipe.bots import echo_app
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.voice.chunk import silent_chunk, utterance_chunk

MIC_RATE = 48000
# (kind, seconds): the first utterance ends at 2.8 s, its reply (~2.5 s) starts ~0.2-0.5 s
# later, and the second utterance starts at 4.3 s, over the reply.
SCRIPT = [("silence", 0.8), ("speech", 2.0), ("silence", 1.5), ("speech", 1.0), ("silence", 6.0)]
HERE = Path(__file__).parent


def write_mic(path: Path) -> None:
    parts = [
        utterance_chunk(secs).data if kind == "speech" else silent_chunk(secs).data
        for kind, secs in SCRIPT
    ]
    pcm = resample_once(b"".join(parts), 24000, MIC_RATE)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MIC_RATE)
        w.writeframes(pcm)


def first(events: list[dict], type_: str, after: float = float("-inf")) -> dict:
    return next(e for e in events if e["type"] == type_ and e["t"] > after)


def drive(page: str, mic: Path, *, ui_event: bool) -> dict[str, Any]:
    """Open ``page``, connect, let the microphone talk, then ping (and send a ui-event)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(mic) as web:
        web.set_script_timeout(30)
        web.get(page)
        web.find_element(By.ID, "connect").click()

        def events(types: tuple[str, ...]) -> list[dict]:
            return web.execute_script(
                "return window.trioPipe.events.filter(e => arguments[0].includes(e.type))",
                list(types),
            )

        wait = WebDriverWait(web, 40, poll_frequency=0.1)
        wait.until(lambda _: events(("bot-ready", "connect-failed")))
        # the second reply (to the barge-in) has ended
        wait.until(lambda _: len(events(("bot-stopped-speaking",))) >= 2)
        web.find_element(By.ID, "ping").click()
        wait.until(lambda _: events(("server-response", "request-failed")))
        if ui_event:
            web.find_element(By.ID, "ui-event").click()
            wait.until(lambda _: events(("ui-command",)))
        state = web.execute_script("return window.trioPipe")
        state["toast"] = web.find_element(By.ID, "toast").text
        return state


def check_turns_and_barge_in(state: dict[str, Any]) -> None:
    """The speaking events in order, the reply heard, the barge-in obeyed."""
    events = state["events"]
    assert not [e for e in events if e["type"] in ("error", "connect-failed")], events
    assert first(events, "bot-ready")
    kinds = [e["type"] for e in events if e["type"].endswith("speaking")]
    assert kinds[:3] == [
        "user-started-speaking",
        "user-stopped-speaking",
        "bot-started-speaking",
    ], kinds
    # barge-in: the user starts again and the bot stops (in either order on the wire)
    assert sorted(kinds[3:5]) == ["bot-stopped-speaking", "user-started-speaking"], kinds
    assert kinds[5:7] == ["user-stopped-speaking", "bot-started-speaking"], kinds

    # the echoed reply reached the page's audio player
    reply_start = first(events, "bot-started-speaking")["t"]
    barge_in = first(events, "user-started-speaking", after=reply_start)["t"]
    levels = [x for x in state["levels"] if reply_start <= x["t"] < barge_in]
    assert len(levels) * 20 >= 400, f"only {len(levels) * 20} ms of bot audio before barge-in"
    assert max(x["rms"] for x in levels) > 0.02

    # barge-in: no more bot audio arrives, the page goes quiet, the reply was cut short
    second_reply = first(events, "bot-started-speaking", after=barge_in)["t"]
    chunks = state["botChunks"]
    late = [c for c in chunks if barge_in + 50 <= c["t"] < second_reply - 100]
    assert not late, f"bot audio arrived {late[0]['t'] - barge_in:.0f} ms after the barge-in"
    first_reply_secs = sum(c["bytes"] for c in chunks if c["t"] < barge_in) / (2 * 24000)
    assert 0.4 <= first_reply_secs < 2.2  # of a reply of 2.4 s or more (speech, stop_secs)
    # the WebAudio render thread of headless Chromium runs in bursts of up to ~300 ms, so
    # the level read from the player's analyser can lag by that much
    sound = [x for x in state["levels"] if barge_in + 500 <= x["t"] < second_reply]
    assert not sound, f"bot audio heard {sound[0]['t'] - barge_in:.0f} ms after the barge-in"
    interrupted_stop = first(events, "bot-stopped-speaking", after=reply_start)["t"]
    assert interrupted_stop - barge_in < 300
    # and the answer to the barge-in turn is heard
    assert [x for x in state["levels"] if x["t"] >= second_reply]
    assert state["botAudioMs"] >= 400


async def test_talk_hear_back_barge_in_and_messages(nursery: trio.Nursery, tmp_path) -> None:
    chromium_paths()  # fail (or skip, opted out) before starting anything
    mic = tmp_path / "mic.wav"
    write_mic(mic)
    server = await nursery.start(serve_asgi, echo_app("protobuf", turns=True, web=True))
    page = f"http://127.0.0.1:{server.port}/"
    with trio.fail_after(120):
        state = await trio.to_thread.run_sync(lambda: drive(page, mic, ui_event=True))

    check_turns_and_barge_in(state)
    events = state["events"]
    assert first(events, "bot-ready")["data"]["version"] == "2.2.0"
    kinds = [e["type"] for e in events if e["type"].endswith("speaking")]
    assert kinds[3:5] == ["user-started-speaking", "bot-stopped-speaking"]  # ours: in this order
    # client-message -> server-response; ui-event -> ui-command (toast)
    response = first(events, "server-response")
    assert response["data"]["echo"] == {"n": response["data"]["echo"]["n"]}
    assert first(events, "ui-command")["data"]["command"] == "toast"
    assert "hello" in state["toast"]


async def test_the_same_page_against_a_pipecat_bot(nursery: trio.Nursery, tmp_path) -> None:
    """Interop: the page, served by trio_pipe, talks to a Pipecat 1.14 bot (``?ws=``)."""
    chromium_paths()
    python = pipecat_interpreter()
    mic = tmp_path / "mic.wav"
    write_mic(mic)
    bot = await trio.lowlevel.open_process(
        [python, str(HERE / "pipecat_web_bot.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = None
        with trio.fail_after(60):  # a hang guard: importing Pipecat takes seconds
            buffer = b""
            while b"ready" not in buffer:
                data = await bot.stdout.receive_some()
                assert data, "the Pipecat bot exited before it listened"
                buffer += data
        port = int(buffer.split(b"PORT ")[1].split()[0])
        server = await nursery.start(serve_asgi, echo_app("protobuf", turns=True, web=True))
        page = f"http://127.0.0.1:{server.port}/?ws=ws://127.0.0.1:{port}/ws"
        with trio.fail_after(120):
            state = await trio.to_thread.run_sync(lambda: drive(page, mic, ui_event=False))
    finally:
        bot.kill()
        with trio.move_on_after(10):
            await bot.wait()
    check_turns_and_barge_in(state)
    response = first(state["events"], "server-response")
    assert response["data"]["server"] == "pipecat"
