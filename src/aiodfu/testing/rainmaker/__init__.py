"""An emulated ESP32 running ESP-AT with RainMaker, for testing host-MCU OTA hosts.

:class:`RainMakerEmulator` answers on its AT UART the way the
``ESP32C3_RAINMAKER`` build does per the protocol reference: ``\\r\\n``
terminated commands of at most 256 bytes, echo on until ``ATE0``,
``busy p...`` for input that arrives while a command runs, ``ERR CODE:0x...``
before ``ERROR`` after ``AT+SYSLOG=1``, ``ready`` after a reset, the ``>``
prompt of ``AT+HTTPURLCFG`` / ``AT+HTTPCHEAD`` (exact byte counts; bytes
beyond them are the next command), ``+RMFWNOTIFY`` and ``+RMOTA`` with their
pending-flag rules, ``AT+RMOTARESULT`` with its exact checks -- and a real
HTTP client: ``AT+HTTPCGET`` downloads from the URL over TCP (loopback
only; see :class:`~aiodfu.testing.rainmaker.server.FirmwareServer`) and
streams the body as ``+HTTPCGET:<n>,<n raw bytes>\\r\\n`` chunks of random
sizes up to the command's rx size.

Details confirmed against ``at_rainmaker.c`` and the released AT core
library: ``AT+HTTPCGET``'s ``rx size`` and ``timeout`` of 0 mean their
defaults (2048 bytes, 5000 ms); any HTTP status up to 399 ends in ``OK``
(``204`` and ``3xx`` included, redirects not followed); for 400 and above the
response body is still printed as ``+HTTPCGET`` chunks, then ``ERROR`` (with
``ERR CODE:0x010a7000 + status`` after ``AT+SYSLOG=1``). ``AT+HTTPURLCFG?``
prints ``+HTTPURLCFG:<len>,<url>`` directly followed by ``\\r\\nOK\\r\\n``,
or only ``OK`` when no URL is stored. ``AT+HTTPCHEAD`` refuses data without a
colon and takes lengths above 2048. ``AT+RMOTARESULT`` checks node, Wi-Fi
and cloud before its parameters and does not range-check ``<type>``.
``+RMOTA``: see :meth:`RainMakerEmulator.module_ota`.

Usage::

    async with FirmwareServer() as server, RainMakerEmulator() as module:
        url = server.add("host.bin", image)
        module.offer(HostJob(url=url, size=len(image), version="2.0", job_id="job1"))
        stream = module.connect()                   # in-memory; or serve_pty(module)
        ...
        assert module.job_status["job1"] == "success"

Options (keyword arguments, also attributes):

``node_initialised`` / ``wifi_connected`` / ``cloud_connected``
    The prerequisites of ``AT+RMOTAFETCH`` and ``AT+RMOTARESULT`` (``ERROR``
    otherwise). ``AT+RMNODEINIT`` and ``AT+RMCONN`` set the first and last.
``echo``
    Echo at boot (the factory setting is on); ``ATE0`` / ``ATE1`` until a reset.
``fetch_delay``
    Seconds from ``AT+RMOTAFETCH``'s ``OK`` to the ``+RMFWNOTIFY``.
``has_httpchead``
    ``False`` models an older build without ``AT+HTTPCHEAD`` (``ERROR``, unsupported).
``accept_partial``
    ``True`` (the default) as the module does: ``206 Partial Content`` is a success
    like any status up to 399. ``False`` models an HTTP client that fails a ``206``
    (body, then ``ERROR``), to test a host's fallback to a clean restart.
``delayed_bug``
    Print ``+RMOTA:5`` for "delayed" (4), as the real firmware does (default on).
``seed``
    Seeds the chunk sizes, so a failing test can be replayed.
``link_model``
    The default :class:`~aiodfu.transports.memory.LinkModel` (baud pacing).
``versions``
    What ``AT+GMR`` prints (:class:`~aiodfu.testing.rainmaker.commands.FirmwareVersions`:
    the ``AT version``, ``SDK version``, ``compile time`` and ``Bin version`` lines, then
    ``OK``); ``None`` models a module that refuses ``AT+GMR``.
``serve_image`` / ``job_version`` / ``job_id``
    Serve these bytes from a :class:`~aiodfu.testing.rainmaker.server.FirmwareServer`
    of the module's own (started on the first connection, at :attr:`server`)
    as the pending host-MCU job -- what ``aiodfu emulate rainmaker --image`` does.
``presign``
    Called with the job on each ``AT+RMOTAFETCH``; returns it with a fresh URL,
    as the cloud presigns again (to test recovery from an expired URL).
``command_latency`` / ``reboot_time``
    Seconds per command before answering, and from a reset (``AT+RST``'s
    ``OK``, :meth:`RainMakerEmulator.reset`) to ``ready``; input arriving in
    between is lost, as on the real UART.

Faults (``module.faults``, a :class:`RainMakerFaults`, mutable while running):
``error_after_chunks`` sends ``ERR CODE:0x010a7000`` + ``ERROR`` after that many
chunks of the next download (once); ``reset_after_chunks`` resets the module
after that many chunks (the download stops dead, ``ready`` follows, RAM state
is lost); ``unsolicited`` lines are sent one before each answer;
``notify_between_chunks`` interleaves a URC between two chunks; ``silent``
stops the module answering; and a ``plan`` of the shared triggered faults
(:mod:`aiodfu.testing.device_faults`): an ``ErrorReply`` at a command answers
``ERROR`` (with ``ERR CODE:<code>`` after ``AT+SYSLOG=1``), at an offset ends
the download there with that code; offsets are image offsets (a ``Range:
bytes=N-`` header's N included). ``RainMakerEmulator.FAULT_VOCABULARY`` lists the codes. HTTP faults
(status codes, reset mid-body, body corruption, ``Content-Length`` mismatch,
URL expiry, a silent server, a slow body) live on the server
(:class:`~aiodfu.testing.rainmaker.server.HttpFaults`).

Inspection: ``results`` (every accepted ``AT+RMOTARESULT`` as
:class:`ReportedResult`), ``job_status`` (job ID -> status text), ``commands``
(every command line received, with URLs redacted), ``downloads`` (number of
``AT+HTTPCGET`` runs), ``resets``, ``host_ota_pending``, ``stored_url``,
``headers``, ``module_ota_status``.

A new connection finds the module as the last one left it (jobs, stored URL,
headers, echo), except that a download in flight is abandoned with the link.

The package, one job per module: :mod:`~aiodfu.testing.rainmaker.emulator`
(the AT port: line discipline, prompts, busy, resets),
:mod:`~aiodfu.testing.rainmaker.commands` (what each command does, one
table), :mod:`~aiodfu.testing.rainmaker.cloud` (the job and its reports),
:mod:`~aiodfu.testing.rainmaker.http_client` (the module's HTTP client) and
:mod:`~aiodfu.testing.rainmaker.server` (the S3-like loopback server). The
command-line discipline (:mod:`aiodfu.testing.rainmaker_at`) is shared with
the other AT emulator.
"""

from aiodfu.testing.rainmaker.cloud import HostJob, RainMakerCloud, ReportedResult
from aiodfu.testing.rainmaker.commands import FirmwareVersions
from aiodfu.testing.rainmaker.emulator import RainMakerEmulator, RainMakerFaults
from aiodfu.testing.rainmaker.http_client import HttpFailure, http_get
from aiodfu.testing.rainmaker.server import FirmwareServer, HttpFaults, HttpRequest

__all__ = [
    "FirmwareServer",
    "FirmwareVersions",
    "HostJob",
    "HttpFailure",
    "HttpFaults",
    "HttpRequest",
    "RainMakerCloud",
    "RainMakerEmulator",
    "RainMakerFaults",
    "ReportedResult",
    "http_get",
]
