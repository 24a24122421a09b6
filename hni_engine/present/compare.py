"""`hni compare [A] [B]`: the two sides read from the workspace, measured (hni_engine.edit.comparison), and
printed for a reviewer."""

from __future__ import annotations

import json

from hni_dsl.errors import HniError
from hni_engine.data.images import scan_image_folder
from hni_engine.discovery.analysis import Analyser
from hni_engine.edit.comparison import BASE, ClassComparison, Evidence, Side, as_json, measure_sides
from hni_engine.graphs.extracted import Extracted, load_extracted
from hni_engine.network.models import load_checkpoint
from hni_engine.present.explain_image import run_state
from hni_engine.store.cache import Cache
from hni_engine.store.names import load_names, with_names
from hni_engine.store.runs import resolve_run
from hni_engine.store.workspace import Workspace

__all__ = ["BASE", "as_json", "compare", "format_comparison"]


def _side(ws: Workspace, wanted: str | None, extracted: Extracted, device: str) -> Side:
    """``base``, a run id or unique prefix, or None: the current run (runs/HEAD)."""
    if wanted == BASE:
        classes = ws.data_classes()
        network = load_checkpoint(ws.model_path, ws.config.model.arch, classes)
        network.model.to(device)
        return Side(BASE, extracted, network, classes)
    run_id = resolve_run(ws, wanted)
    if run_id is None:
        raise HniError(f"no run to compare ({ws.runs_dir} has none yet; `hni apply` makes them)")
    state, network, classes = run_state(ws, run_id, extracted, device)
    return Side(run_id, state, network, classes)


def compare(
    ws: Workspace, a: str | None, b: str | None, device: str = "cpu"
) -> tuple[Side, Side, list[ClassComparison]]:
    """Measure both sides for every class either side's library has (hni_engine.edit.comparison)."""
    extracted = load_extracted(ws)
    side_a, side_b = (_side(ws, wanted, extracted, device) for wanted in (a, b))
    names = load_names(ws.root)
    for side in (side_a, side_b):
        side.state.library = with_names(side.state.library, names)
    data_classes = ws.data_classes()
    known = set(side_a.classes) | set(side_b.classes)
    test_classes = data_classes + sorted(n for n in _test_folders(ws) if n in known and n not in data_classes)
    evidence = json.loads(ws.extract_report_path.read_text()).get("evidence", {}).get("classes", {})
    analysed = [n for n in extracted.classes if n in data_classes]
    # Patch features come from the extraction's network (its cache), whichever networks are compared.
    base = side_a if side_a.name == BASE else side_b if side_b.name == BASE else None
    base_network = base.network if base is not None else _side(ws, BASE, extracted, device).network
    analyser = Analyser(base_network, ws.config, [data_classes.index(n) for n in analysed], Cache(ws.cache_dir), device)
    ev = Evidence(
        analyser,
        analysed,
        ws.load_split("train", data_classes),
        data_classes,
        ws.load_split("test", test_classes),
        test_classes,
        {name: set(found.get("images", [])) for name, found in evidence.items()},
    )
    return side_a, side_b, measure_sides(side_a, side_b, extracted, ev, ws.config, device)


def _test_folders(ws: Workspace) -> list[str]:
    return scan_image_folder(ws.resolve(ws.config.data.test))[0]


def _num(value: float | None, fmt: str = "+.2f") -> str:
    return "-" if value is None else format(value, fmt)


def format_comparison(a: Side, b: Side, found: list[ClassComparison]) -> str:
    lines = [f"comparing {a.name} (A) with {b.name} (B); each side measured on its own network"]
    for c in found:
        acc = c.accuracy
        change = f" ({100 * (acc[1] - acc[0]):+.1f} pts)" if acc[0] is not None and acc[1] is not None else ""
        lines.append(f"\n{c.name}: test accuracy {_num(acc[0], '.3f')} -> {_num(acc[1], '.3f')}{change}")
        if c.importance:
            lines.append("  concept importance (class logit drop when erased, A -> B):")
            for cid, (x, y) in c.importance.items():
                where = "/".join(s for s, nodes in zip("AB", c.nodes) if cid in nodes)
                concept = b.state.library.concept(cid) or a.state.library.concept(cid)
                label = f" {json.dumps(concept.label)}" if concept is not None and concept.label else ""
                lines.append(f"    {cid}{label}".ljust(36) + f" {_num(x)} -> {_num(y)}   in c-SCG {where}")
        keys = sorted(set(c.edges[0]) | set(c.edges[1]), key=lambda k: tuple(int(v) for v in k.split("->")))
        if keys:
            lines.append("  edge weights (A -> B; '-': no such edge):")
            lines.append(
                "    "
                + ", ".join(f"{k} {_num(c.edges[0].get(k), '.3f')} -> {_num(c.edges[1].get(k), '.3f')}" for k in keys)
            )
    return "\n".join(lines)
