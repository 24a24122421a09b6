"""`hni name`: give a concept a name people read (`names.txt`, hni_engine.store.names); torch-free.

hni name ambulance/3d0099 "red cross"     # name it (or rename it)
hni name ambulance/3d0099 --remove        # forget its name
hni name                                  # list every name
"""

from __future__ import annotations

import argparse

from hni_dsl.class_names import concept_prefix
from hni_dsl.errors import HniError
from hni_dsl.formatter import format_class_name
from hni_dsl.suggest import did_you_mean
from hni_engine.present.show import current_library
from hni_engine.store.layout import Layout
from hni_engine.store.names import NAMES_FILE, load_names, name_problem, write_names

__all__ = ["add_name_parser", "cmd_name"]


def add_name_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    text = "name a concept for people (names.txt; scripts still use ids), or list the names"
    p = sub.add_parser("name", help=text, description=text)
    p.add_argument("concept", metavar="CLASS/KEY", nargs="?", help="a concept id, as `hni show CLASS --pool` prints it")
    p.add_argument("label", metavar="NAME", nargs="?", help='its name, e.g. "ladder"')
    p.add_argument("--remove", action="store_true", help="forget the concept's name")
    p.add_argument("--wait", action="store_true", help="wait for another command writing the workspace to finish")
    p.set_defaults(handler="name")


def cmd_name(args: argparse.Namespace) -> int:
    layout = Layout(args.workspace)
    names = load_names(layout.root)
    if args.concept is None:
        if args.label is not None or args.remove:
            raise HniError("`hni name` needs a concept id (CLASS/KEY) to name or --remove")
        for cid in sorted(names):
            print(f'{cid}  "{names[cid]}"')
        if not names:
            print(f"no names yet ({layout.root / NAMES_FILE}); `hni name CLASS/KEY NAME` adds one")
        return 0
    if args.remove:
        if args.label is not None:
            raise HniError("give a name or --remove, not both")
        if args.concept not in names:
            raise HniError(f"{args.concept} has no name to remove")
        del names[args.concept]
        write_names(layout.root, names)
        print(f"{args.concept}: name removed")
        return 0
    if args.label is None:
        raise HniError(f'`hni name {args.concept}` needs a NAME (e.g. "ladder"), or --remove')
    if (problem := name_problem(args.label)) is not None:
        raise HniError(f"name {args.label!r}: {problem}")
    library = current_library(layout)
    if library.concept(args.concept) is None:
        known = [c.id for e in library.classes for c in e.pool]
        prefix = args.concept.split("/")[0]
        owner = next((e.name for e in library.classes if concept_prefix(e.name) == prefix), prefix)
        hint = (
            did_you_mean(args.concept, known, quote=str) or f"; `hni show {format_class_name(owner)} --pool` lists ids"
        )
        raise HniError(f"no concept {args.concept} in the current library{hint}")
    before = names.get(args.concept)
    names[args.concept] = args.label
    write_names(layout.root, names)
    print(f'{args.concept}: "{args.label}"' + (f' (was "{before}")' if before and before != args.label else ""))
    return 0
