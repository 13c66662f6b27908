"""MCUboot images made by the real imgtool (its click CLI, run in process), for the format tests."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from imgtool.image import Image, VerifyResult
from imgtool.keys import load as load_key
from imgtool.main import imgtool

from aiodfu.testing import random_firmware

SLOT_SIZE = 0x10000
HEADER_SIZE = 0x200


class Imgtool:
    """Runs ``imgtool`` in a directory; keys are generated once, on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.runner = CliRunner()

    def run(self, *args: str) -> str:
        result = self.runner.invoke(imgtool, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def key(self, kind: str) -> Path:
        path = self.directory / f"{kind}.pem"
        if not path.exists():
            self.run("keygen", "-k", str(path), "-t", kind)
        return path

    def body(self, name: str, data: bytes) -> Path:
        path = self.directory / f"{name}.bin"
        path.write_bytes(data)
        return path

    def sign(
        self, name: str, *options: str, body: bytes | None = None, suffix: str = "bin"
    ) -> Path:
        """``imgtool sign`` of ``body`` (3000 random bytes by default) into ``name.suffix``."""
        source = self.body(f"{name}-in", random_firmware(3000, seed=7) if body is None else body)
        out = self.directory / f"{name}.{suffix}"
        self.run(
            "sign",
            "--pad-header",
            "-H",
            str(HEADER_SIZE),
            "-S",
            str(SLOT_SIZE),
            "-v",
            "1.2.3+4",
            *options,
            str(source),
            str(out),
        )
        return out

    def verify(self, image: Path, key: str | None = None) -> bytes | None:
        """imgtool's own verdict: the digest it checked (None for a pure signature)."""
        loaded = load_key(str(self.key(key))) if key else None
        result, _, digest, _ = Image.verify(str(image), loaded)
        assert result is VerifyResult.OK, result
        return digest  # type: ignore[no-any-return]
