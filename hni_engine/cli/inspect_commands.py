"""The commands that show what the network learnt: `hni show`, `hni report`, `hni explain`, `hni compare`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hni_dsl import load_library
from hni_engine.cli.device import limit_threads, resolve_device
from hni_engine.present import pictures
from hni_engine.present.compare import BASE, as_json, compare, format_comparison
from hni_engine.present.exemplars import refused_exemplars
from hni_engine.present.explain_image import explain_figure, explain_image, print_graph
from hni_engine.present.report import parse_classes, write_report
from hni_engine.present.show import class_entry, current_library, show_text
from hni_engine.store.datahash import warn_stale
from hni_engine.store.runs import current_library_path
from hni_engine.store.workspace import Workspace

__all__ = ["cmd_compare", "cmd_explain", "cmd_report", "cmd_show"]


def cmd_show(args: argparse.Namespace) -> int:
    ws = Workspace(args.workspace)
    if args.png:
        pictures.check_output(args.png)
    warn_stale(ws)
    library_path = args.library or current_library_path(ws)
    library = load_library(args.library) if args.library else current_library(ws)
    entry = class_entry(library, args.cls)
    show_text(library, entry, args.pool)
    if args.png:
        # Exemplars are where extraction wrote them (concepts/), whichever library names them.
        draw = pictures.pool_picture if args.pool else pictures.scg_picture
        library_dir = Path(library_path).parent
        for line in refused_exemplars(library, [entry], ws.concepts_dir, library_dir):
            print(line, file=sys.stderr)
        pictures.write_png(draw(library, entry, ws.concepts_dir, library_dir), args.png)
        print(f"picture written to {args.png}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    ws = Workspace(args.workspace)
    warn_stale(ws)
    path, inputs = write_report(ws, args.output, run=args.run, classes=parse_classes(args.classes))
    for line in inputs.warnings:
        print(line, file=sys.stderr)
    run = f", run {inputs.run.run_id}" if inputs.run is not None else " (no run)"
    print(f"report written to {path}: {len(inputs.entries)} classes{run}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    if args.png:
        pictures.check_output(args.png)  # before any work: a bad output path writes and computes nothing
    warn_stale(ws)
    for line in ws.check_config("explain"):  # hni.toml against what train and extract ran with
        print(line, file=sys.stderr)
    device = resolve_device(args.device)
    ex = explain_image(ws, args.image, args.why_not, device, run=args.run, base=args.base)
    net_pred = int(ex.network.argmax())
    state = f"run {ex.run}" if ex.run else "the extraction" if args.base else "the extraction; no run yet"
    print(f"{args.image} ({state})")
    print(
        f"  network predicts {ex.classes[net_pred]} (p={float(ex.network[net_pred]):.2f}); "
        f"the GRN predicts {ex.names[ex.grn_pred]} (over {len(ex.names)} classes of interest)"
    )
    print(f"  {_fidelity_line(ws, ex.run)}")
    for title, index, result in ex.questions:
        print(f"\n{title} (GRN score {result.logit:+.3f}; contributions of its own graph, then the largest elsewhere)")
        own = result[ex.names[index]]
        print_graph(ex, ex.names[index], own)
        if title.startswith("why not"):
            missing, unmet = ex.unmet(ex.names[index])
            concepts = ", ".join(f"concept {slot} ({cid})" for slot, cid in missing) or "none: every concept is there"
            print(f"  {ex.names[index]} expected and did not find: {concepts}")
            if unmet:
                print("  edges not met (an end is missing): " + ", ".join(f"{s}->{d}" for s, d in unmet))
        others = sorted((g for g in result.graphs if g.name != ex.names[index]), key=lambda g: -abs(g.total))[:2]
        for g in others:
            print(f"  {g.name} graph: total {g.total:+.3f}")
    if args.png:
        pictures.write_png(explain_figure(ex), args.png)
        print(f"picture written to {args.png}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    warn_stale(ws)
    a, b = (BASE, None) if args.a is None else (BASE, args.a) if args.b is None else (args.a, args.b)
    side_a, side_b, found = compare(ws, a, b, resolve_device(args.device))
    if args.json:
        print(json.dumps(as_json(side_a, side_b, found), indent=2))
    else:
        print(format_comparison(side_a, side_b, found))
    return 0


def _fidelity_line(ws: Workspace, run: str | None) -> str:
    """How far the explained GRN can be trusted: its agreement with the explained network on held-out images."""
    try:
        if run is None:
            value = json.loads(ws.extract_report_path.read_text(encoding="utf-8")).get("fidelity_test")
        else:
            metrics = json.loads((ws.runs_dir / run / "metrics.json").read_text(encoding="utf-8"))
            value = metrics.get("grn", {}).get("fidelity")
    except (OSError, ValueError, AttributeError):
        value = None
    if not isinstance(value, (int, float)):
        return "the GRN's fidelity to this network was not recorded (apply or extract again to measure it)"
    return f"the GRN agrees with this network on {value:.3f} of held-out images (its fidelity)"
