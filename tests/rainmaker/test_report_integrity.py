"""A result report corrupted on the UART is caught by the module's echo and sent again."""

from __future__ import annotations

from aiodfu.testing import FirmwareServer, RainMakerEmulator
from aiodfu.transports.base import Buffer
from aiodfu.transports.memory import MemoryStream
from tests.rainmaker.conftest import IMAGE, offer, session_for


class CorruptFirstSuccessReport:
    """A link whose first success report (status 2) reaches the module with a flipped job ID.

    The module cannot tell: it answers ``OK`` and publishes a report for a job
    that does not exist, as a real ESP-AT module does with a corrupted line.
    """

    def __init__(self, stream: MemoryStream) -> None:
        self._stream = stream
        self.corrupted = 0

    async def write(self, data: Buffer) -> None:
        raw = bytes(data)
        if raw.startswith(b"AT+RMOTARESULT=") and b'",2,' in raw and not self.corrupted:
            self.corrupted += 1
            at = raw.index(b'"') + 3  # a character of the job ID
            raw = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]
        await self._stream.write(raw)

    async def read(self, max_bytes: int = 65536) -> bytes:
        return await self._stream.read(max_bytes)

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def closed(self) -> bool:
        return self._stream.closed


async def test_a_corrupted_success_report_is_sent_again_until_the_cloud_has_it(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server)
    links: list[CorruptFirstSuccessReport] = []

    def connector() -> CorruptFirstSuccessReport:
        links.append(CorruptFirstSuccessReport(module.connect()))
        return links[-1]

    async with session_for(connector) as session:
        result = await session.update(install=lambda image: None)
    assert sum(link.corrupted for link in links) == 1  # the fault did happen
    assert result.image.data == IMAGE
    assert module.job_status[job.job_id] == "success"  # the cloud has the true report
    assert not module.echo  # echo is off again: a URL is never echoed
