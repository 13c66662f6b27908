"""How long the RainMaker backend waits for each answer (the reference's recommendations)."""

from __future__ import annotations

import attrs


@attrs.frozen
class Timeouts:
    """Seconds to wait for each answer; override any with ``attrs.evolve``."""

    command: float = 5.0
    """``OK``/``ERROR`` for ordinary commands."""
    notification: float = 30.0
    """``+RMFWNOTIFY`` after ``AT+RMOTAFETCH``; silence means no pending job."""
    prompt: float = 2.0
    """The ``>`` prompt after ``AT+HTTPURLCFG`` / ``AT+HTTPCHEAD``."""
    data_result: float = 2.0
    """``SET OK`` / ``OK`` after the prompted bytes (plus their wire time)."""
    first_chunk: float = 20.0
    """The first ``+HTTPCGET`` chunk: HTTP timeout plus the TLS handshake."""
    chunk_gap: float = 35.0
    """Silence allowed between chunks: the HTTP timeout plus 5 s."""
    result: float = 10.0
    """``OK`` to ``AT+RMOTARESULT`` (an MQTT publish)."""
    ready: float = 10.0
    """The ``ready`` banner after ``AT+RST``."""
    release: float = 5.0
    """How long a session that ended by an error or a cancellation may spend clearing the
    stored URL before it lets the error through."""
    http_timeout_ms: int = 30000
    """The ``<timeout>`` parameter given to ``AT+HTTPCGET`` (0..180000)."""
