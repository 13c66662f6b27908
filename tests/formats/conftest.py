"""Fixtures for the format tests: the real imgtool, with keys it generates once per module."""

from __future__ import annotations

import pytest

from .imgtool_images import Imgtool


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Imgtool:
    return Imgtool(tmp_path_factory.mktemp("imgtool"))
