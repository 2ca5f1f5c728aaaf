"""Serve an echo voice bot over WebSocket that takes turns (or echoes at once).

    trio-pipe serve                              # ws://127.0.0.1:8765/ws, Pipecat protobuf
    trio-pipe serve --web                        # also the browser page at http://.../
    trio-pipe serve --port 0 --protocol raw      # a free port, bare PCM16
    trio-pipe serve --echo plain                 # every chunk straight back, no turns
    trio-pipe call ws://127.0.0.1:8765/ws        # talk to it
    trio-pipe serve --workers 2                  # two serving processes on one port
    trio-pipe serve --metrics-port 9100          # Prometheus figures at :9100/metrics
    trio-pipe serve --ping-interval 5            # notice a frozen client within ~25 s

By default the bot takes turns: it listens until voice activity detection says the user
stopped, says the turn back, and stops when the user talks over it (barge-in); on the
protobuf protocol it also speaks RTVI, so Pipecat's JavaScript client can drive it, and
``--web`` serves a page built on that client at ``/``.

Each connection is one session: trio_pipe's FastAPIWebsocketTransport (Starlette under
Hypercorn, on Trio) around an echo stage, ended when the client leaves. The first line
printed is the bot's URL. Stop with Ctrl-C or SIGTERM: open sessions are closed (code
1000) before the command exits. Binds to loopback unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from functools import partial
from typing import Any

import trio

from trio_pipe.cli import CommandError

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` arguments."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (8765)")
    parser.add_argument("--path", default="/ws", help="WebSocket path (/ws)")
    parser.add_argument(
        "--protocol",
        choices=("protobuf", "raw", "twilio"),
        default="protobuf",
        help="wire protocol: Pipecat protobuf frames (default), raw PCM16, Twilio Media Streams",
    )
    parser.add_argument(
        "--echo",
        choices=("turns", "plain"),
        default="turns",
        help="turns: answer each user turn, interruptible (default); plain: echo every chunk",
    )
    parser.add_argument(
        "--web", action="store_true", help="also serve the browser client's page at / (protobuf)"
    )
    parser.add_argument(
        "--vad-stop-secs",
        type=float,
        default=0.2,
        help="silence that ends the user's turn (VADParams.stop_secs, 0.2)",
    )
    parser.add_argument("--in-rate", type=int, default=16000, help="input sample rate (16000)")
    parser.add_argument(
        "--out-rate", type=int, default=24000, help="output sample rate; raw PCM goes out at it"
    )
    parser.add_argument(
        "--session-timeout", type=float, help="end each session after this many seconds"
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="logging level (WARNING; INFO shows sessions)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="serving processes sharing the port (SO_REUSEPORT), e.g. one per core (1)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (with --workers N: "
        "PORT, PORT+1, ... one per process; 0: free ports)",
    )
    parser.add_argument(
        "--dead-peer-timeout",
        type=float,
        default=60.0,
        help="drop a connection whose peer stopped answering after about this many "
        "seconds (TCP keepalive + TCP_USER_TIMEOUT; 0 turns it off; 60)",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=20.0,
        help="ping each client this often, in seconds, to notice one that froze while its "
        "session was quiet (WebSocket pings; 0 turns them off; 20)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=20.0,
        help="end a session whose client sent nothing this long after a ping (20)",
    )


def logged_echo_app(*args: Any, **kwargs: Any) -> Any:
    """The echo bot's app, logging each session's start and end (at INFO)."""
    from trio_pipe.apps.bots.echo import echo_app
    from trio_pipe.serving import require_trio
    from trio_pipe.session_watch import log_sessions

    return require_trio(log_sessions(echo_app(*args, **kwargs)))


def _app_factory(args: argparse.Namespace) -> partial[Any]:
    """What builds the app, picklable for the serving processes (``spawn``)."""
    from trio_pipe.vad import VADParams

    return partial(
        logged_echo_app,
        args.protocol,
        path=args.path,
        in_rate=args.in_rate,
        out_rate=args.out_rate,
        session_timeout=args.session_timeout,
        turns=args.echo == "turns",
        vad_params=VADParams(stop_secs=args.vad_stop_secs),
        web=args.web,
        ping_interval=args.ping_interval or None,
        ping_timeout=args.ping_timeout if args.ping_interval else None,
    )


def _keepalive(args: argparse.Namespace) -> Any:
    from trio_pipe.serving_sockets import TCPKeepalive

    return TCPKeepalive.within(args.dead_peer_timeout) if args.dead_peer_timeout else None


def _announce(args: argparse.Namespace, served: Any, processes: int = 1) -> None:
    from trio_pipe.serving import url_host

    print(served.ws_url(args.path), flush=True)
    kind = "turn-taking echo bot" if args.echo == "turns" else "echo bot"
    where = f", {processes} processes" if processes > 1 else ""
    print(
        f"{kind} ({args.protocol}, in {args.in_rate} Hz, out {args.out_rate} Hz{where})"
        "; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    if args.web:
        print(f"browser page: {served.http_url('/')}", file=sys.stderr, flush=True)
    if served.metrics_port is not None:
        host = url_host(served.host)
        print(f"metrics: http://{host}:{served.metrics_port}/metrics", file=sys.stderr, flush=True)


async def _serve(args: argparse.Namespace) -> None:
    from trio_pipe.serving import serve_asgi

    app = _app_factory(args)()
    serve = partial(
        serve_asgi,
        app,
        args.host,
        args.port,
        tcp_keepalive=_keepalive(args),
        metrics_port=args.metrics_port,
    )
    bind_error: OSError | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            try:
                served = await nursery.start(serve)
            except OSError as exc:
                bind_error = exc  # raised below, outside the nursery (not in a group)
            else:
                _announce(args, served)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()
    if bind_error is not None:
        _bind_failed(args, bind_error)


def _bind_failed(args: argparse.Namespace, error: OSError) -> None:
    reason = error.strerror or str(error)
    raise CommandError(f"cannot listen on {args.host}:{args.port}: {reason}")


def _serve_processes(args: argparse.Namespace) -> int:
    from trio_pipe.multiprocess import serve_processes

    try:
        return serve_processes(
            _app_factory(args),
            args.host,
            args.port,
            workers=args.workers,
            tcp_keepalive=_keepalive(args),
            metrics_port=args.metrics_port,
            on_ready=lambda served, _pids: _announce(args, served, args.workers),
            log_level=args.level,
        )
    except OSError as exc:
        _bind_failed(args, exc)
        raise  # not reached


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be 0..65535, got {args.port}")
    if args.in_rate < 1 or args.out_rate < 1:
        raise CommandError("sample rates must be positive")
    if args.session_timeout is not None and args.session_timeout <= 0:
        raise CommandError("--session-timeout must be positive")
    if args.web and (args.echo != "turns" or args.protocol != "protobuf"):
        raise CommandError("--web needs the default --echo turns and --protocol protobuf")
    if args.vad_stop_secs < 0:
        raise CommandError("--vad-stop-secs must be >= 0")
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        raise CommandError(f"unknown --log-level {args.log_level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.level = level
    if args.workers < 1:
        raise CommandError(f"--workers must be >= 1, got {args.workers}")
    if args.dead_peer_timeout < 0:
        raise CommandError("--dead-peer-timeout must be >= 0")
    if args.ping_interval < 0:
        raise CommandError("--ping-interval must be >= 0")
    if args.ping_interval and args.ping_timeout <= 0:
        raise CommandError("--ping-timeout must be positive (--ping-interval 0 turns pings off)")
    if args.workers > 1:
        return _serve_processes(args)
    trio.run(_serve, args)
    return 0
