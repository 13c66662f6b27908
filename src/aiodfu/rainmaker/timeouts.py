"""How long the RainMaker backend waits for each answer (the reference's recommendations)."""

from __future__ import annotations

import attrs

from aiodfu.core.timeouts import TimeoutsBase
from aiodfu.core.transfer import RetryPolicy

MAX_HTTP_TIMEOUT_MS = 180_000
"""The largest ``<timeout>`` ``AT+HTTPCGET`` takes."""


@attrs.frozen
class Timeouts(TimeoutsBase):
    """Seconds to wait for each answer; override any with ``attrs.evolve``, or ``scaled``.

    Checked on construction: every value positive, and the host's silence
    limits inside ``AT+HTTPCGET`` (``first_chunk``, ``chunk_gap``) at least the
    module's own network timeout -- else the host would give up on a download
    the module is still allowed to finish or to report as failed.
    """

    open: float = 5.0
    """Opening the link (the serial port) through the connector."""
    command: float = 5.0
    """``OK``/``ERROR`` for ordinary commands."""
    notification: float = 30.0
    """``+RMFWNOTIFY`` after ``AT+RMOTAFETCH``; silence means no pending job."""
    prompt: float = 2.0
    """The ``>`` prompt after ``AT+HTTPURLCFG`` / ``AT+HTTPCHEAD``."""
    data_result: float = 2.0
    """``SET OK`` / ``OK`` after the prompted bytes (plus their wire time)."""
    first_chunk: float = 35.0
    """The first ``+HTTPCGET`` chunk: the HTTP timeout plus 5 s (connection, TLS handshake)."""
    chunk_gap: float = 35.0
    """Silence allowed between chunks: the HTTP timeout plus 5 s."""
    result: float = 10.0
    """``OK`` to ``AT+RMOTARESULT`` (an MQTT publish)."""
    ready: float = 10.0
    """The ``ready`` banner after ``AT+RST``."""
    release: float = 5.0
    """How long a session that ended by an error or a cancellation may spend clearing the
    stored URL before it lets the error through."""
    http_timeout_ms: float = 30000
    """The ``<timeout>`` parameter given to ``AT+HTTPCGET`` (milliseconds, up to 180000;
    sent rounded to a whole number)."""

    def invariants(self) -> list[tuple[bool, str]]:
        http_timeout = self.http_timeout_ms / 1000
        return [
            (self.http_timeout_ms <= MAX_HTTP_TIMEOUT_MS, "http_timeout_ms is at most 180000"),
            (self.first_chunk >= http_timeout, "first_chunk >= http_timeout_ms / 1000"),
            (self.chunk_gap >= http_timeout, "chunk_gap >= http_timeout_ms / 1000"),
        ]

    @property
    def http_timeout_parameter(self) -> int:
        """``http_timeout_ms`` as ``AT+HTTPCGET`` takes it: a whole number in 1..180000."""
        return min(max(round(self.http_timeout_ms), 1), MAX_HTTP_TIMEOUT_MS)


DEFAULT_RETRY = RetryPolicy(attempts=4)
"""Attempts per step (and per download without progress) unless the caller gives a policy."""
