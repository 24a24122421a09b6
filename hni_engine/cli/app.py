"""The `hni` command line.

The language commands (`check`, `fmt`, `plan`) import only :mod:`hni_dsl`, never torch, so a reviewer's CI
can lint and plan scripts with the language's own small dependencies.

Exit statuses (stable): `check` 0 ok (warnings allowed), 1 errors, 3 usage or input-file problems;
`fmt --check` 0 canonical, 1 not; `plan` 0 no changes, 2 changes, 1 errors, 3 usage or input problems.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Optional, Sequence

from hni_dsl.errors import Diagnostic, HniError, HniSyntaxError, LibraryError, render_diagnostics
from hni_dsl.fileio import InputFileError, atomic_write_text, read_text

EXIT_OK, EXIT_ERRORS, EXIT_CHANGES, EXIT_USAGE = 0, 1, 2, 3


class UsageError(HniError):
    """Bad command-line usage (exit status 3)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 by default; 2 means "changes" for `hni plan`
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _scripts(args) -> list[tuple[str, str]]:
    """[(path, text)] of the scripts named, or the workspace's edits/*.hni in file-name order."""
    paths = list(args.scripts)
    if not paths:
        paths = sorted(glob.glob(os.path.join(args.workspace, "edits", "*.hni")))
        if not paths:
            raise UsageError(f"no scripts given and no {os.path.join(args.workspace, 'edits', '*.hni')} found")
    return [(path, read_text(path, "script")) for path in paths]


def _library_path(args) -> str:
    """--library, else the workspace's current library: the latest run's (runs/HEAD), or the extraction's."""
    if args.library:
        return args.library
    head = os.path.join(args.workspace, "runs", "HEAD")
    if os.path.isfile(head):
        with open(head, encoding="utf-8") as handle:
            run = handle.read().strip()
        if run:
            return os.path.join(args.workspace, "runs", run, "library.json")
    return os.path.join(args.workspace, "concepts", "library.json")


def _print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str], limit: int) -> None:
    if diagnostics:
        print(render_diagnostics(diagnostics, sources, limit), file=sys.stderr)


def _tally(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"


def cmd_check(args) -> int:
    from hni_dsl import load_library, make_plan

    library = load_library(_library_path(args))
    scripts = _scripts(args)
    outcome = make_plan(library, scripts, _library_path(args))
    _print_diagnostics(outcome.diagnostics, outcome.sources, args.max_errors)
    failed = any(d.is_error for d in outcome.diagnostics)
    names = ", ".join(path for path, _ in scripts)
    print(f"{'error' if failed else 'ok'}: {names}: {_tally(outcome.diagnostics)}")
    return EXIT_ERRORS if failed else EXIT_OK


def cmd_fmt(args) -> int:
    from hni_dsl.formatter import format_text

    if not args.scripts:
        raise UsageError("hni fmt needs at least one script")
    status = EXIT_OK
    for path in args.scripts:
        text = read_text(path, "script")
        try:
            formatted = format_text(text, path)
        except HniSyntaxError as exc:
            print(exc.render(args.max_errors), file=sys.stderr)
            status = EXIT_ERRORS
            continue
        if args.check:
            if formatted != text:
                print(f"would reformat {path}", file=sys.stderr)
                status = EXIT_ERRORS
        elif args.write:
            if formatted != text:
                atomic_write_text(path, formatted)
                print(f"reformatted {path}", file=sys.stderr)
        else:
            sys.stdout.write(formatted)
    return status


def cmd_plan(args) -> int:
    from hni_dsl import load_library, make_plan

    library_path = _library_path(args)
    library = load_library(library_path)
    outcome = make_plan(library, _scripts(args), library_path)
    _print_diagnostics(outcome.diagnostics, outcome.sources, args.max_errors)
    if outcome.plan is None:
        print(f"error: no plan: {_tally(outcome.diagnostics)}", file=sys.stderr)
        return EXIT_ERRORS
    plan_json = outcome.plan.model_dump_json(indent=2) + "\n"
    if args.output:
        atomic_write_text(args.output, plan_json)
    sys.stdout.write(plan_json if args.json else outcome.plan.text)
    if args.output:
        print(f"plan written to {args.output}", file=sys.stderr)
    return EXIT_CHANGES if outcome.plan.has_changes else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hni",
        description="Read, review and change what an image classifier has learnt, as concept-graph edit scripts.",
    )
    parser.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    parser.add_argument("--version", action="version", version=f"hni {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def language_command(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("scripts", nargs="*", metavar="SCRIPT", help="edit scripts (default: the workspace's edits/*.hni)")
        p.add_argument("--max-errors", type=int, default=50, metavar="N", help="show at most N diagnostics (default 50)")
        p.set_defaults(handler=handler)
        return p

    check = language_command("check", "parse and check edit scripts against the concept library", cmd_check)
    check.add_argument("--library", metavar="LIB", help="library.json (default: the workspace's current one, see `hni apply`)")

    fmt = language_command("fmt", "print scripts in canonical form, or --check / --write them", cmd_fmt)
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if any script is not canonical")
    mode.add_argument("--write", action="store_true", help="rewrite non-canonical scripts in place")

    plan = language_command("plan", "show the reviewable diff of the c-SCGs the scripts would make", cmd_plan)
    plan.add_argument("--library", metavar="LIB", help="library.json (default: the workspace's current one, see `hni apply`)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON (transforms and hashes included)")
    plan.add_argument("-o", "--output", metavar="PLAN", help="also write the JSON plan to this file")

    # -- the engine (torch) ---------------------------------------------------------------------
    def engine_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                       help="where to compute (auto: CUDA when present)")
        p.set_defaults(handler=_engine(name))
        return p

    init = engine_command("init", "make a workspace: a built-in scenario, or your own data and model")
    init.add_argument("dir", metavar="DIR", help="the new workspace folder (must not exist or be empty)")
    init.add_argument("--scenario", choices=["spurious", "posebias", "zeroshot"], help="built-in synthetic data")
    init.add_argument("--seed", type=int, default=0, help="seed of the scenario and of every later stage")
    init.add_argument("--quick", action="store_true", help="a small scenario (30 train / 15 test images per class)")
    init.add_argument("--image-size", type=int, default=64, help="synthetic image size in pixels (default 64)")
    init.add_argument("--data", metavar="PATH", help="your data: PATH/train and PATH/test in ImageFolder layout")
    init.add_argument("--model", metavar="CKPT", help="your network: a state dict or whole-model file")
    init.add_argument("--arch", default="resnet18", help="torchvision architecture of --model (default resnet18)")
    init.add_argument("--input-size", type=int, default=224, help="input size of your network (default 224)")
    init.add_argument("--feature-layer", default="layer4", help="layer for patch features (default layer4)")
    init.add_argument("--gradcam-layer", default="layer4", help="layer for Grad-CAM (default layer4)")

    train = engine_command("train", "train the original network from scratch on the workspace's data")
    train.add_argument("--epochs", type=int, help="override train.epochs of hni.toml")
    train.add_argument("--force", action="store_true", help="replace an existing model/base.pt")

    ev = engine_command("eval", "per-class accuracy and confusion matrix on the test split")
    ev.add_argument("--model", metavar="PATH", help="a checkpoint other than the workspace's base model")

    ex = engine_command("extract", "discover concepts, build the c-SCGs and train the GRN that mimics the network")
    ex.add_argument("--no-cache", action="store_true", help="recompute every stage (the cache is left alone)")

    apply = engine_command("apply", "apply edit scripts (or a saved plan) to the network: retrain the GRN, "
                                    "distil into the network, write runs/<id>/")
    apply.add_argument("scripts", nargs="*", metavar="SCRIPT|PLAN.json",
                       help="edit scripts, or one plan saved by `hni plan -o` (default: edits/*.hni in name order)")
    apply.add_argument("--no-cache", action="store_true", help="recompute patch features instead of reading the cache")
    apply.add_argument("--max-errors", type=int, default=50, metavar="N", help="show at most N diagnostics")

    demo = engine_command("demo", "from nothing to a before/after table: generate a scenario, train, extract, "
                                  "apply its example edit script")
    demo.add_argument("--scenario", choices=["spurious", "posebias", "zeroshot"], default="posebias",
                      help="which built-in scenario (default posebias: its script needs no reviewer's choice)")
    demo.add_argument("--quick", action="store_true", help="a small version (about two minutes on two cores)")
    demo.add_argument("--dir", metavar="DIR", help="the demo workspace (default: ./hni-demo-SCENARIO[-quick])")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="replace an existing demo workspace")

    show = sub.add_parser("show", help="a class's c-SCG (numbered as edit scripts number it), or its pool",
                          description="a class's c-SCG (numbered as edit scripts number it), or its pool")
    show.add_argument("cls", metavar="CLASS")
    show.add_argument("--pool", action="store_true", help="the ranked pool (`pool[N]`) instead of the c-SCG")
    show.add_argument("--library", metavar="LIB", help="library.json (default: the workspace's current one, see `hni apply`)")
    show.add_argument("--png", metavar="FILE", help="also draw it: exemplar patches numbered as scripts number them, "
                                                    "edges coloured by their learnt weight")
    show.set_defaults(handler=_engine("show"))

    report = sub.add_parser("report", help="one self-contained HTML file: each class's c-SCG and pool, and the "
                                           "current (or named) run's scripts, plan and before/after accuracy",
                            description="one self-contained HTML file (pictures embedded, nothing fetched): each "
                                        "class's c-SCG and pool, and the run's scripts, plan, before/after accuracy "
                                        "and confusion matrices")
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: WORKSPACE/report.html)")
    report.add_argument("--run", metavar="ID", help="the run to report (default: runs/HEAD, if there is one); "
                                                    "a unique prefix such as 0002 will do")
    report.add_argument("--classes", metavar="A,B,...", help="only these classes (default: every class of the "
                                                             "library: the run's, or the extraction's)")
    report.set_defaults(handler=_engine("report"))

    explain = engine_command("explain", "why the network (through its GRN) decides as it does on one image")
    explain.add_argument("image", metavar="IMAGE")
    explain.add_argument("--why-not", metavar="CLASS", help="also explain why not this class (its own score)")
    explain.add_argument("--png", metavar="FILE", help="also draw it: matched concepts outlined on the image, "
                                                       "numbered by slot, coloured by contribution")
    which = explain.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="ID", help="explain this run's network and GRN (an id or unique prefix; "
                                                   "default: the current run, runs/HEAD)")
    which.add_argument("--base", action="store_true", help="explain the extraction's network and mimic GRN "
                                                           "even when edits were applied")
    return parser


def _engine(name: str):
    """A handler that imports the engine only when the command runs (the language never needs torch)."""

    def run(args) -> int:
        try:
            from hni_engine.cli import commands
        except ImportError as exc:
            raise UsageError(f"`hni {name}` needs the engine's dependencies ({exc.name} is missing): "
                             f"pip install 'hni[engine]'") from None
        return getattr(commands, f"cmd_{name}")(args)

    return run


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hni")
    except Exception:  # not installed (run from a source tree)
        return "0+unknown"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
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
