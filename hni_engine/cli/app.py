"""`hni`: parse the command line, run the command, turn errors into one line and an exit status.

The language commands (`check`, `fmt`, `plan`) and `config` import no torch; the engine's commands are
imported only when one of them runs. Exit statuses are listed in hni_engine.cli.language_commands.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType, ModuleType

from hni_dsl.errors import HniError, LibraryError
from hni_dsl.escape import clip, escape
from hni_dsl.fileio import InputFileError
from hni_engine.cli import (
    config_command,
    doctor_command,
    language_commands,
    name_command,
    runs_command,
    suggest_command,
)
from hni_engine.cli.language_commands import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageError
from hni_engine.cli.parser import build_parser
from hni_engine.cli.writing import run_guarded

__all__ = ["handler", "main"]

Handler = Callable[[argparse.Namespace], int]

TORCH_FREE: dict[str, Handler] = {
    "check": language_commands.cmd_check,
    "fmt": language_commands.cmd_fmt,
    "plan": language_commands.cmd_plan,
    "config": config_command.cmd_config,
    "doctor": doctor_command.cmd_doctor,
    "name": name_command.cmd_name,
    "suggest": suggest_command.cmd_suggest,
    "runs": runs_command.cmd_runs,
    "checkout": runs_command.cmd_checkout,
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
        elif name in ("show", "report", "explain", "compare"):
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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.argv = argv
    # SIGTERM raises where the process is, so staged writes unwind as they do on Ctrl-C.
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main_thread else None
    try:
        return run_guarded(args, handler(args.handler))
    except (UsageError, InputFileError, LibraryError) as exc:
        print(f"hni {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HniError as exc:
        print(f"hni {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except Terminated:
        print("terminated: nothing half-written is kept (`hni doctor` checks the workspace)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: nothing half-written is kept (`hni doctor` checks the workspace)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hni show X | head`: the reader left; not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # the machine said no (a full disk, a file gone): staged writes have unwound
        where = f"{escape(str(exc.filename))}: " if exc.filename else ""
        print(f"hni {args.command}: error: {where}{exc.strerror or exc}; nothing half-written is kept", file=sys.stderr)
        return EXIT_ERRORS
    except Exception as exc:
        if os.environ.get("HNI_DEBUG") == "1":
            raise
        print(
            f"hni {args.command}: internal error: {type(exc).__name__}: {escape(clip(str(exc), 300))} "
            "(a bug in hni; HNI_DEBUG=1 shows where; nothing half-written is kept)",
            file=sys.stderr,
        )
        return EXIT_ERRORS
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception: staged writes unwind, and the exit status is 143."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
