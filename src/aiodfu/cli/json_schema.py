"""The ``--json`` interface's schema, shipped in the package, and ``aiodfu json-schema``.

``aiodfu/cli/schema/events-v1.json`` (JSON Schema 2020-12) describes every line
``aiodfu --json`` writes; docs/json.md explains it. Version 1 only grows: new
events and keys may appear, none is removed or changes type. A breaking change
would ship as ``events-v2.json`` next to it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import click

SCHEMA_VERSION = 1


def schema_text(version: int = SCHEMA_VERSION) -> str:
    """The schema file's text."""
    return (
        resources.files("aiodfu.cli")
        .joinpath("schema", f"events-v{version}.json")
        .read_text(encoding="utf-8")
    )


def load_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The schema, parsed (for ``jsonschema.validate(event, load_schema())``)."""
    loaded: dict[str, Any] = json.loads(schema_text(version))
    return loaded


@click.command("json-schema")
def command() -> None:
    """Print the JSON Schema of the lines `aiodfu --json` writes (version 1)."""
    click.echo(schema_text(), nl=False)
