"""The published JSON Schema of the library format. ``python -m hni_dsl.schema`` rewrites it."""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("hni-library-1.schema.json")


def write_schema() -> Path:
    from hni_dsl.library import library_schema

    SCHEMA_PATH.write_text(json.dumps(library_schema(), indent=2) + "\n", encoding="utf-8")
    return SCHEMA_PATH
