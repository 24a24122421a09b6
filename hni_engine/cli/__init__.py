"""The `hni` command line: `app` parses and dispatches; the language commands import no torch."""

from hni_engine.cli.app import main

__all__ = ["main"]
