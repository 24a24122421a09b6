"""`hni suggest`: draft an edit script from the evidence (hni_engine.present.suggest_script); torch-free.

hni suggest                                   # every class, the script on stdout
hni suggest fire_engine -o edits/NNNN-suggested.hni   # one class, into the next numbered script
hni suggest --define I --from A,E,C --like D  # also a new class from parts of known ones
"""

from __future__ import annotations

import argparse
import sys

from hni_dsl import load_library
from hni_dsl.class_names import class_name_problem
from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_engine.present.suggest_script import next_script_path, suggest
from hni_engine.store.layout import Layout
from hni_engine.store.preflight import check_output_file
from hni_engine.store.runs import current_library_path, read_head

__all__ = ["add_suggest_parser", "cmd_suggest"]


def add_suggest_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    text = "draft the edit script a reviewer would write, from the evidence alone, each line with its reason"
    p = sub.add_parser("suggest", help=text, description=text)
    p.add_argument("classes", nargs="*", metavar="CLASS", help="the classes to look at (default: every class)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the script here (NNNN in the name: the next number)")
    p.add_argument("--define", metavar="NEW", help="also propose a new class NEW from parts of --from classes")
    p.add_argument("--from", dest="parts", metavar="A,B,...", help="with --define: the classes giving the parts")
    p.add_argument("--like", metavar="D", help="with --define: whose edges it takes (default: the first --from)")
    p.set_defaults(handler="suggest")


def cmd_suggest(args: argparse.Namespace) -> int:
    layout = Layout(args.workspace)
    library = load_library(current_library_path(layout))
    run = read_head(layout)
    results = layout.runs_dir / run / "metrics.json" if run else layout.root / "model" / "base.json"
    define = None
    if args.define or args.parts or args.like:
        parts = [p.strip() for p in (args.parts or "").split(",") if p.strip()]
        if not args.define or not parts:
            raise HniError("--define NEW needs --from A,B,... (the classes whose concepts are its parts)")
        if (problem := class_name_problem(args.define)) is not None:
            raise HniError(f"--define: {problem}")
        define = (args.define, parts, args.like)
    try:
        drafted = suggest(library, results, args.classes or None, define)
    except ValueError as exc:
        raise HniError(str(exc)) from None
    if args.output and args.output != "-":  # "-": standard output, as without -o
        target = next_script_path(args.output)
        if target.exists():
            raise HniError(f"{target}: exists; `hni suggest` never overwrites a script (name another file)")
        check_output_file(target, "script")  # its folder exists and can be written; none is made
        atomic_write_text(target, drafted.text)
        counts = {c: sum(f.confidence == c for f in drafted.findings) for c in ("high", "medium", "low")}
        print(
            f"suggestions written to {target}: {counts['high']} high, {counts['medium']} medium and {counts['low']} "
            f"low confidence (low ones commented out); nothing applied",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(drafted.text)
    return 0
