"""`hni`: parse the command line, run the command, turn errors into one line and an exit status.

The language commands (`check`, `fmt`, `plan`) and `config` import no torch; the engine's commands are
imported only when one of them runs. Exit statuses are listed in hni_engine.cli.language_commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from hni_dsl.errors import HniError, LibraryError
from hni_dsl.fileio import InputFileError
from hni_engine.cli import config_command, language_commands
from hni_engine.cli.language_commands import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageError
from hni_engine.cli.parser import build_parser

__all__ = ["handler", "main"]

Handler = Callable[[argparse.Namespace], int]

TORCH_FREE: dict[str, Handler] = {
    "check": language_commands.cmd_check,
    "fmt": language_commands.cmd_fmt,
    "plan": language_commands.cmd_plan,
    "config": config_command.cmd_config,
}


def handler(name: str) -> Handler:
    """The function that runs command ``name``; an engine command's module is imported here, not before."""
    if name in TORCH_FREE:
        return TORCH_FREE[name]
    module: ModuleType
    try:
        if name in ("init", "train", "eval", "extract"):
            from hni_engine.cli import build_commands

            module = build_commands
        elif name in ("show", "report", "explain"):
            from hni_engine.cli import inspect_commands

            module = inspect_commands
        elif name == "apply":
            from hni_engine.cli import apply_command

            module = apply_command
        elif name == "demo":
            from hni_engine.cli import demo

            module = demo
        else:
            raise UsageError(f"unknown command {name!r}")
    except ImportError as exc:
        raise UsageError(
            f"`hni {name}` needs the engine's dependencies ({exc.name} is missing): pip install 'hni[engine]'"
        ) from None
    run: Handler = getattr(module, f"cmd_{name}")
    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args.handler)(args)
    except (UsageError, InputFileError, LibraryError) as exc:
        print(f"hni {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HniError as exc:
        print(f"hni {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hni show X | head`: the reader left; not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
