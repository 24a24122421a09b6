"""The `hni` command line: `app` parses and dispatches (`hni = hni_engine.cli.app:main`); the language
commands and `config` import no torch, the engine's commands are imported only when one runs."""
