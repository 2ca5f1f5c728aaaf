"""When and how soon the proxy client reconnects (opt-in; Pipecat never does). Pure.

A :class:`Reconnect` policy says how long to wait between attempts (capped exponential
backoff with jitter, :func:`trio_pipe.backoff.reconnect_delays`) and how many failed
attempts in a row to allow. :meth:`Reconnect.retry_after` decides whether a connection
that ended (or never opened) is worth another attempt:

* a connection that was lost (abnormal close 1006, server going away 1001, a write that
  timed out, a missing pong) or a connect that failed (refused, unreachable, timed out):
  yes;
* a normal close (1000) from the server: no, the server ended the conversation on
  purpose;
* a handshake the server refused with an HTTP 4xx status (wrong token, origin not
  allowed): no, the same request would be refused again;
* a close with code 1008 (policy violation): no, for the same reason.
"""

from __future__ import annotations

import attrs

__all__ = ["Reconnect"]

NORMAL_CLOSURE = 1000
POLICY_VIOLATION = 1008


@attrs.frozen
class Reconnect:
    """Reconnect policy of :class:`~trio_pipe.workers.proxy.websocket.WebSocketProxyClient`.

    Args:
        initial_delay: wait before the first new attempt, in seconds.
        max_delay: cap of the doubling wait.
        max_attempts: new attempts allowed after a loss before giving up (None: never
            give up). A connection that opens resets the count.
    """

    initial_delay: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    max_delay: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    max_attempts: int | None = None

    @classmethod
    def coerce(cls, value: Reconnect | bool | None) -> Reconnect | None:
        """``True``: the default policy; ``None``/``False``: no reconnecting."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        raise TypeError(f"reconnect must be a bool, None or a Reconnect, not {value!r}")

    @staticmethod
    def retry_after(*, connected: bool, close_code: int | None, http_status: int | None) -> bool:
        """Whether another attempt may succeed.

        Args:
            connected: the connection had opened (and then ended).
            close_code: how it ended (WebSocket close code), if it had opened.
            http_status: the status of a refused handshake, if the server sent one.
        """
        if connected:
            return close_code not in (NORMAL_CLOSURE, POLICY_VIOLATION)
        return http_status is None or not 400 <= http_status < 500

    def gives_up(self, retries: int) -> bool:
        """True if ``retries`` new attempts since the last open connection are the limit."""
        return self.max_attempts is not None and retries >= self.max_attempts
