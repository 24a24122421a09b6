"""The language commands: `hni check`, `hni fmt`, `hni plan`. They import hni_dsl alone, never torch,
so a reviewer's CI can lint and plan scripts with the language's own small dependencies.

Exit statuses (stable): `check` 0 ok (warnings allowed), 1 errors, 3 usage or input-file problems;
`fmt --check` 0 canonical, 1 not; `plan` 0 no changes, 2 changes, 1 errors, 3 usage or input problems.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Sequence

from hni_dsl.codes import UnknownCodeError, explain, list_codes
from hni_dsl.collector import collector_paused
from hni_dsl.errors import Diagnostic, HniError, HniSyntaxError, render_diagnostics
from hni_dsl.escape import escape
from hni_dsl.fileio import atomic_write_text, read_text
from hni_dsl.library import Library
from hni_dsl.plan import Plan
from hni_engine.store.datahash import warn_stale
from hni_engine.store.history import changed_scripts_warning, select_scripts
from hni_engine.store.layout import Layout
from hni_engine.store.names import load_names, with_names
from hni_engine.store.plan_outputs import check_images_dir, check_plan_output
from hni_engine.store.runs import current_library_path

__all__ = [
    "EXIT_CHANGES",
    "EXIT_ERRORS",
    "EXIT_OK",
    "EXIT_USAGE",
    "OutputFileError",
    "UsageError",
    "cmd_check",
    "cmd_fmt",
    "cmd_plan",
    "library_path",
    "print_diagnostics",
    "read_scripts",
    "tally",
    "write_output",
]

EXIT_OK, EXIT_ERRORS, EXIT_CHANGES, EXIT_USAGE = 0, 1, 2, 3


class UsageError(HniError):
    """Bad command-line usage (exit status 3)."""


def read_scripts(args: argparse.Namespace) -> list[tuple[str, str]]:
    """[(path, text)] of the scripts named, or the workspace's edits/*.hni in file-name order."""
    paths = list(args.scripts)
    if not paths:
        paths = sorted(glob.glob(os.path.join(args.workspace, "edits", "*.hni")))
        if not paths:
            raise UsageError(f"no scripts given and no {escape(os.path.join(args.workspace, 'edits', '*.hni'))} found")
    return [(path, read_text(path, "script")) for path in paths]


def library_path(args: argparse.Namespace) -> str:
    """--library, else the workspace's current library: the HEAD run's, or the extraction's."""
    if not args.library:
        warn_stale(Layout(args.workspace))  # the library came from data that has changed since
    return args.library or str(current_library_path(Layout(args.workspace)))


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str], limit: int) -> None:
    if diagnostics:
        print(render_diagnostics(diagnostics, sources, limit), file=sys.stderr)


def tally(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"


class OutputFileError(HniError):
    """An output file cannot be written (exit status 1); the file is left as it was."""


def write_output(path: str, text: str) -> None:
    """Write atomically; a failure is one line naming the file, and the file keeps its old content."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise OutputFileError(f"{escape(path)}: cannot be written: {exc.strerror or exc}") from None


def cmd_check(args: argparse.Namespace) -> int:
    from hni_dsl import load_library, make_plan

    if args.explain is not None:  # `hni check --explain [CODE]`: the language's own manual, no scripts read
        try:
            print(explain(args.explain) if args.explain else list_codes())
        except UnknownCodeError as exc:
            raise UsageError(str(exc)) from None
        return EXIT_OK
    path = library_path(args)
    library = load_library(path)
    scripts = read_scripts(args)
    with collector_paused():  # a one-shot command over objects that all live until it ends
        outcome = make_plan(library, scripts, path)
        print_diagnostics(outcome.diagnostics, outcome.sources, args.max_errors)
    failed = any(d.is_error for d in outcome.diagnostics)
    names = escape(", ".join(path for path, _ in scripts))
    print(f"{'error' if failed else 'ok'}: {names}: {tally(outcome.diagnostics)}")
    return EXIT_ERRORS if failed else EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from hni_dsl.formatter import format_text

    paths = list(args.scripts) or sorted(glob.glob(os.path.join(args.workspace, "edits", "*.hni")))
    if not paths:
        raise UsageError(
            f"hni fmt needs a script (none given and no {escape(os.path.join(args.workspace, 'edits', '*.hni'))})"
        )
    # Every script is read before any is rewritten: a missing one fails the command with nothing changed.
    # Line endings as they are on disk: a CRLF file is not in canonical form.
    texts = [(path, read_text(path, "script", newline="")) for path in paths]
    status = EXIT_OK
    for path, text in texts:
        try:
            formatted = format_text(text, path)
        except HniSyntaxError as exc:
            print(exc.render(args.max_errors), file=sys.stderr)
            status = EXIT_ERRORS
            continue
        if args.check:
            if formatted != text:
                print(f"would reformat {escape(path)}", file=sys.stderr)
                status = EXIT_ERRORS
        elif args.write:
            if formatted != text:
                # Through a symlink to the file it names: replacing the link itself would cut it.
                write_output(os.path.realpath(path), formatted)
                print(f"reformatted {escape(path)}", file=sys.stderr)
        else:
            sys.stdout.write(formatted)
    return status


def cmd_plan(args: argparse.Namespace) -> int:
    from hni_dsl import load_library, make_plan

    path = library_path(args)
    library = load_library(path)
    scripts = read_scripts(args)
    changed = select_scripts(library.applied, scripts).changed
    if changed:  # planned as if new; `hni apply` refuses them (hni_engine.store.history)
        print(changed_scripts_warning(changed), file=sys.stderr)
    labels = load_names(Layout(args.workspace).root)  # names.txt: shown beside the ids, never planned on
    with collector_paused():
        outcome = make_plan(library, scripts, path, labels)
        print_diagnostics(outcome.diagnostics, outcome.sources, args.max_errors)
    if outcome.plan is None:
        print(f"error: no plan: {tally(outcome.diagnostics)}", file=sys.stderr)
        return EXIT_ERRORS
    form = args.format or ("json" if args.json else "text")
    if args.json and form != "json":
        raise UsageError(f"--json and --format {form}: choose one")
    if args.images and form != "markdown":
        raise UsageError("--images goes with --format markdown")
    if args.output == "-":  # the usual spelling of standard output, not a file named "-"
        args.output = None
    if args.output:  # checked before anything is written: a refused output leaves every file as it was
        check_plan_output(args.output, Layout(args.workspace), [path, *(name for name, _ in scripts)])
    plan_json = outcome.plan.model_dump_json(indent=2) + "\n"
    if form == "markdown":
        assert outcome.library_after is not None  # a plan was made
        text = _markdown(args, outcome.plan, library, outcome.library_after, path)
        if not args.output:
            sys.stdout.write(text)
    else:
        if args.output:
            write_output(args.output, plan_json)
        sys.stdout.write(plan_json if form == "json" else outcome.display_text or outcome.plan.text)
    if args.output:
        print(f"plan written to {escape(args.output)}", file=sys.stderr)
    return EXIT_CHANGES if outcome.plan.has_changes else EXIT_OK


def _markdown(args: argparse.Namespace, plan: Plan, before: Library, after: Library, path: str) -> str:
    """The Markdown plan (hni_engine.present.plan_markdown); with -o, written with its pictures."""
    from pathlib import Path

    try:
        from hni_engine.present.plan_markdown import plan_markdown, relative_link, write_markdown_plan
    except ImportError as exc:  # the language alone is installed: no Pillow to draw with
        missing = exc.name
        raise UsageError(
            f"--format markdown draws pictures: it needs the engine extra ({missing} is missing)"
        ) from None

    layout = Layout(args.workspace)
    images = None
    if args.output:
        target = Path(args.output)
        images = Path(args.images) if args.images else target.with_name(target.name + ".images")
        check_images_dir(images, layout, target)
    elif args.images:
        raise UsageError("--images needs -o FILE: the Markdown links the pictures relative to its own file")
    link = relative_link(Path(args.output), images) if images is not None else None
    names = load_names(layout.root)  # people's names for the concepts, shown beside the ids
    before, after = with_names(before, names), with_names(after, names)
    result = plan_markdown(plan, before, after, layout.concepts_dir, Path(path).parent, link)
    if args.output:
        try:
            write_markdown_plan(result, Path(args.output), images)
        except OSError as exc:
            raise OutputFileError(f"{escape(args.output)}: cannot be written: {exc.strerror or exc}") from None
    return result.text
