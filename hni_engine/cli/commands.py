"""The engine's commands (`init`, `train`, `eval`, `extract`, `show`, `explain`, `report`, `apply`, `demo`).

Imported only when one of them runs, so the language commands never load torch.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

# torch_geometric calls the deprecated torch.jit.script at import; users cannot act on that warning.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

from hni_dsl import load_library
from hni_dsl.checker import concept_origin
from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text

from hni_engine.progress import bar
from hni_engine.cli.init_workspace import init_scenario, init_user
from hni_engine.store.workspace import Workspace, WorkspaceError


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise HniError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return name


def _threads() -> None:
    # Two cores are the reference machine; torch's default may oversubscribe a shared CPU.
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))


def cmd_init(args) -> int:
    if args.scenario and (args.data or args.model):
        raise HniError("hni init: give either --scenario NAME, or --data PATH --model CKPT (not both)")
    if args.scenario:
        with bar(None, f"generating the {args.scenario} scenario", "img") as progress:
            ws = init_scenario(args.dir, args.scenario, seed=args.seed, quick=args.quick,
                               image_size=args.image_size, progress=lambda done, total: (
                                   setattr(progress, "total", total), progress.update(1)))
        print(f"workspace {ws.root}: {args.scenario} scenario (seed {args.seed}); next: hni -w {ws.root} train")
        return 0
    if not (args.data and args.model):
        raise HniError("hni init: give --scenario NAME, or --data PATH and --model CKPT (with --arch)")
    ws = init_user(args.dir, args.data, args.model, args.arch, input_size=args.input_size,
                   feature_layer=args.feature_layer, gradcam_layer=args.gradcam_layer)
    print(f"workspace {ws.root}: data {args.data}, model {args.model} ({args.arch}); next: hni -w {ws.root} extract")
    return 0


def cmd_train(args) -> int:
    from hni_engine.network.models import build_model, save_checkpoint
    from hni_engine.network.training import seed_everything, train_classifier

    _threads()
    ws = Workspace(args.workspace)
    config = ws.config
    if ws.model_path.exists() and not args.force:
        raise WorkspaceError(f"{ws.model_path}: a model exists; `hni train --force` replaces it (and makes the "
                             f"concepts extracted from it stale)")
    device = resolve_device(args.device)
    classes = ws.data_classes()
    with bar(None, "loading images", "img") as progress:
        train = ws.load_split("train", classes, lambda d, t: progress.update(1))
        test = ws.load_split("test", classes, lambda d, t: progress.update(1))
    train_config = config.train if args.epochs is None else config.train.model_copy(update={"epochs": args.epochs})
    seed_everything(config.seed)  # the initial weights too: same workspace and seed, same network
    model = build_model(config.model.arch, len(classes))
    with bar(train_config.epochs, f"training {config.model.arch}", "epoch") as progress:
        report = train_classifier(model, train, train_config, config.model.mean, config.model.std,
                                  seed=config.seed, device=device, test=test,
                                  progress=lambda e, n, loss: (progress.update(1), progress.set_postfix(loss=f"{loss:.3f}")))
    sha = save_checkpoint(model.cpu(), config.model.arch, classes, ws.model_path, input_size=config.model.input_size,
                          mean=list(config.model.mean), std=list(config.model.std), seed=config.seed)
    metrics = {"model_sha256": sha, "seconds": round(report.seconds, 1), "epochs": train_config.epochs,
               "train_loss": [round(x, 4) for x in report.train_loss], "test_accuracy": report.test.accuracy,
               "per_class": report.test.per_class, "confusion": report.test.confusion, "classes": classes}
    atomic_write_text(ws.model_path.with_suffix(".json"), json.dumps(metrics, indent=2) + "\n")
    print(report.test.table())
    print(f"model written to {ws.model_path} (sha256 {sha[:12]}), {report.seconds:.0f} s")
    return 0


def cmd_eval(args) -> int:
    from hni_engine.network.models import load_checkpoint
    from hni_engine.network.training import evaluate

    _threads()
    ws = Workspace(args.workspace)
    config = ws.config
    device = resolve_device(args.device)
    classes = ws.data_classes()
    path = args.model or ws.model_path
    if args.model and os.path.isdir(args.model):  # a run folder
        path = os.path.join(args.model, "model.pt")
    # A run's network may know classes the training data lacks (defined ones): its own list decides.
    classes = _checkpoint_classes(path) or classes
    loaded = load_checkpoint(path, config.model.arch, classes)
    test = ws.load_split("test", classes)
    result = evaluate(loaded.model.to(device), test, config.model.mean, config.model.std, device=device)
    print(result.table())
    width = max(len(c) for c in classes)
    print("\nconfusion (rows: true, columns: predicted)")
    print(" " * (width + 2) + " ".join(f"{i:>4}" for i in range(len(classes))))
    for i, row in enumerate(result.confusion):
        print(f"{classes[i]:<{width}}  " + " ".join(f"{v:>4}" for v in row) + f"   {i}")
    return 0


def _checkpoint_classes(path) -> "list[str] | None":
    """The class list stored beside a run's network (classes.json), if there is one."""
    listed = os.path.join(os.path.dirname(str(path)), "classes.json")
    if os.path.basename(str(path)) == "model.pt" and os.path.isfile(listed):
        with open(listed, encoding="utf-8") as handle:
            return list(json.load(handle))
    return None


def cmd_extract(args) -> int:
    from hni_engine.graphs.extract import extract

    _threads()
    ws = Workspace(args.workspace)
    device = resolve_device(args.device)
    start = time.perf_counter()
    result = extract(ws, device=device, use_cache=not args.no_cache)
    print(f"concept library: {ws.library_path} ({len(result.library.classes)} classes)")
    print(f"GRN fidelity (top-1 agreement with the network, held-out images): {result.fidelity:.3f}")
    for name, used in result.report.get("frequency_rule_relaxed", {}).items():
        print(f"note: {name}'s concepts recur in fewer images than extract.min_cluster_images asks; "
              f"kept clusters found in >= {used:.0%} of its images")
    print(f"done in {time.perf_counter() - start:.0f} s ({result.report.get('cache', '')}); "
          f"see `hni show CLASS`")
    return 0


def _library_for(ws: Workspace):
    """The current library: the latest run's (runs/HEAD) once edits were applied, else the extraction's."""
    path = _library_path_for(ws)
    if not path.exists():
        raise WorkspaceError(f"{path}: no concept library yet (run `hni extract`)")
    return load_library(path)


def _entry(library, name: str):
    entry = library.get(name)
    if entry is None:
        import difflib

        close = difflib.get_close_matches(name, library.class_names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; classes: {', '.join(library.class_names)}"
        raise HniError(f"unknown class {name!r}{hint}")
    return entry


def _library_path_for(ws: Workspace):
    """Where the current library is: the latest run's (runs/HEAD) once edits were applied, else the extraction's."""
    head = ws.runs_dir / "HEAD"
    run = head.read_text(encoding="utf-8").strip() if head.is_file() else ""
    return ws.runs_dir / run / "library.json" if run else ws.library_path


def cmd_show(args) -> int:
    from hni_engine.present import pictures

    ws = Workspace(args.workspace)
    if args.png:
        pictures.check_output(args.png)
    library_path = args.library or _library_path_for(ws)
    library = load_library(args.library) if args.library else _library_for(ws)
    entry = _entry(library, args.cls)
    _show_text(library, entry, args.pool)
    if args.png:
        # Exemplars are where extraction wrote them (concepts/), whichever library names them.
        draw = pictures.pool_picture if args.pool else pictures.scg_picture
        pictures.write_png(draw(library, entry, ws.concepts_dir, os.path.dirname(str(library_path))), args.png)
        print(f"picture written to {args.png}", file=sys.stderr)
    return 0


def _show_text(library, entry, pool: bool) -> None:
    slots = {concept: i for i, concept in enumerate(entry.graph.nodes, start=1)}
    if pool:
        print(f"{entry.name}: pool of {len(entry.pool)} concepts, ranked by importance "
              f"(`pool[N]` in edit scripts)")
        for rank, concept in enumerate(entry.pool, start=1):
            extra = [f"importance {concept.importance:.3f}"]
            if concept.directional is not None:
                extra.append(f"dd {concept.directional:+.3g}")
            if concept.p_value is not None:
                extra.append(f"p {concept.p_value:.3f}")
            if concept.images is not None:
                extra.append(f"in {concept.images} images")
            label = f" {json.dumps(concept.label)}" if concept.label else ""
            slot = f"  = concept {slots[concept.id]}" if concept.id in slots else ""
            print(f"  pool[{rank}]".ljust(11) + f"{concept.id}{label}  " + ", ".join(extra) + slot)
        return
    print(f"{entry.name}: c-SCG with {len(entry.graph.nodes)} concepts and {len(entry.graph.edges)} edges"
          + (f" (network output {entry.output_index})" if entry.output_index is not None else " (defined)"))
    for slot, concept_id in enumerate(entry.graph.nodes, start=1):
        where = concept_origin(library, entry, concept_id)
        concept = library.concept(concept_id)
        label = f" {json.dumps(concept.label)}" if concept and concept.label else ""
        print(f"  concept {slot}  {concept_id}{label}  ({where})")
    if entry.graph.edges:
        print("  edges (learnt weight e_ji):")
        for edge in sorted(entry.graph.edges, key=lambda e: (-(abs(e.weight) if e.weight is not None else -1), e.src, e.dst)):
            weight = f"{edge.weight:+.3f}" if edge.weight is not None else "(not learnt yet)"
            print(f"    {edge.src}->{edge.dst}  {weight}")
    else:
        print("  no edges")


def cmd_report(args) -> int:
    from hni_engine.present.report import parse_classes, write_report

    ws = Workspace(args.workspace)
    path, inputs = write_report(ws, args.output, run=args.run, classes=parse_classes(args.classes))
    run = f", run {inputs.run.run_id}" if inputs.run is not None else " (no run)"
    print(f"report written to {path}: {len(inputs.entries)} classes{run}")
    return 0


@dataclass
class ImageExplanation:
    """One image through the network and the GRN, with the contributions asked for (VRX eq. 5-6).

    Computed once and read by both the text and the picture of `hni explain`, so they show the same numbers.
    """

    path: str
    image: np.ndarray            # (S, S, 3) uint8, as the network saw it
    digest: str
    classes: list[str]           # the network's classes
    names: list[str]             # the GRN's classes (the classes of interest), in its output order
    network: torch.Tensor        # (K,) the network's softmax
    grn_pred: int                # index into names
    questions: list[tuple[str, int, "object"]]  # (title, class index into names, Contributions)
    extracted: "object"          # the library, anchors and GRN explained (a run's, or the extraction's)
    analyser: "object"
    patches: "object"            # the image's candidate patches (scg.ImagePatches)
    rows: list[int]              # candidate row of patches for each class in names
    batch: "object"
    run: Optional[str] = None    # the run explained; None: the extraction

    def slot_offset(self, name: str) -> int:
        """Where class ``name``'s slots start in the batch's concatenated slot axis."""
        return sum(len(self.extracted.library.get(n).graph.nodes) for n in self.names[:self.names.index(name)])


def explain_image(ws: Workspace, image_path: str, why_not, device: str, *, run: Optional[str] = None,
                  base: bool = False) -> ImageExplanation:
    """Analyse one image, run the GRN on its I-SCGs, and score "why the GRN's class" (and "why not `why_not`").

    The current state is explained: the run `runs/HEAD` names (or `run`, an id or unique prefix), with
    that run's network, edited library and retrained GRN; the extraction's network and mimic GRN when
    there is no run or `base` is set. Patch features always come from the extraction's network: the
    concept anchors live in its feature space, as they do when `hni apply` rebuilds the image graphs.
    """
    from hni_engine.store.cache import Cache
    from hni_engine.data.images import image_digest, load_image
    from hni_engine.present.contributions import contributions
    from hni_engine.edit.apply import _patches
    from hni_engine.graphs.extract import Analyser, iscg_batch, load_extracted
    from hni_engine.network.models import load_checkpoint
    from hni_engine.present.report import resolve_run
    from hni_engine.network.training import predict_logits

    config = ws.config
    extracted = load_extracted(ws)
    classes = ws.data_classes()
    extraction_model = load_checkpoint(ws.model_path, config.model.arch, classes)
    extraction_model.model.to(device)
    run_id = None if base else resolve_run(ws, run)
    network, network_classes = extraction_model, classes
    if run_id is not None:
        extracted, network, network_classes = _run_state(ws, run_id, extracted, device)
    names = extracted.classes
    if why_not is not None and why_not not in names:
        _entry(extracted.library, why_not)  # raises with a did-you-mean
    image = load_image(image_path, config.model.input_size)
    # Classes with images have Grad-CAM regions in the extraction's network; a defined class has none,
    # so every patch is a candidate for it (as in `hni apply`).
    seen = [n for n in names if n in classes]
    defined = [n for n in names if n not in classes]
    analyser = Analyser(extraction_model, config, [classes.index(n) for n in seen], Cache(ws.cache_dir), device)
    digest = image_digest(image)
    (analysis,) = analyser.analyse(image[None], [digest])
    (patches,) = _patches([analysis], len(defined), context=run_id is None)  # as the GRN explained was trained
    rows = [seen.index(n) if n in seen else len(seen) + defined.index(n) for n in names]
    batch = iscg_batch([patches], rows, [extracted.nodes(n) for n in names])
    if batch.x.shape[-1] != extracted.grn.in_dim:
        where = ws.runs_dir / run_id / "grn.pt" if run_id else ws.grn_path
        raise WorkspaceError(f"{where}: the GRN takes {extracted.grn.in_dim}-dimensional node features, but "
                             f"{ws.config_path} now gives {batch.x.shape[-1]} (extract.feature_mode or "
                             f"extract.context_features changed?); run `hni extract` again")
    with torch.no_grad():
        grn_logits = extracted.grn(batch)[0]
    grn_pred = int(grn_logits.argmax())
    targets = [(f"why {names[grn_pred]}", grn_pred)]
    if why_not is not None:
        targets.append((f"why not {why_not}", names.index(why_not)))
    questions = [(title, index, contributions(extracted.grn, batch, index)) for title, index in targets]
    if network is extraction_model:
        logits = torch.from_numpy(analysis.logits)
    else:
        logits = predict_logits(network.model, image[None], config.model.mean, config.model.std, device=device)[0]
    return ImageExplanation(str(image_path), image, digest, network_classes, names, torch.softmax(logits, 0),
                            grn_pred, questions, extracted, analyser, patches, rows, batch, run_id)


def _run_state(ws: Workspace, run_id: str, extracted, device: str):
    """A run's library, retrained GRN and network, with the extraction's anchors (its concepts' features)."""
    from hni_engine.graphs.extract import Extracted
    from hni_engine.graphs.grn import GRN
    from hni_engine.network.models import load_checkpoint

    folder = ws.runs_dir / run_id
    for name in ("library.json", "grn.pt", "model.pt", "classes.json"):
        if not (folder / name).is_file():
            raise WorkspaceError(f"{folder}: incomplete run ({name} is missing)")
    library = load_library(folder / "library.json")
    try:
        grn_file = torch.load(folder / "grn.pt", map_location="cpu", weights_only=True)
        grn = GRN.from_state(grn_file["state"]).eval()
        network_classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
    except Exception as exc:
        raise WorkspaceError(f"{folder}: unreadable run output ({type(exc).__name__}: {exc})") from None
    unknown = [cid for e in library.classes for cid in e.graph.nodes if cid not in extracted.anchors]
    if unknown:
        raise WorkspaceError(f"{folder / 'library.json'}: concepts {', '.join(unknown[:3])} are not in "
                             f"{ws.anchors_path} (extracted again since this run?)")
    network = load_checkpoint(folder / "model.pt", ws.config.model.arch, network_classes)
    network.model.to(device)
    state = Extracted(library, extracted.anchors, extracted.thresholds, grn, list(grn_file["classes"]))
    return state, network, network_classes


def cmd_explain(args) -> int:
    _threads()
    ws = Workspace(args.workspace)
    if args.png:
        from hni_engine.present import pictures

        pictures.check_output(args.png)  # before any work: a bad output path writes and computes nothing
    device = resolve_device(args.device)
    ex = explain_image(ws, args.image, args.why_not, device, run=args.run, base=args.base)
    net_pred = int(ex.network.argmax())
    state = f"run {ex.run}" if ex.run else "the extraction" if args.base else "the extraction; no run yet"
    print(f"{args.image} ({state})")
    print(f"  network predicts {ex.classes[net_pred]} (p={float(ex.network[net_pred]):.2f}); "
          f"the GRN predicts {ex.names[ex.grn_pred]} (over {len(ex.names)} classes of interest)")
    for title, index, result in ex.questions:
        print(f"\n{title} (GRN score {result.logit:+.3f}; contributions of its own graph, then the largest elsewhere)")
        own = result[ex.names[index]]
        _print_graph(ex, ex.names[index], own)
        others = sorted((g for g in result.graphs if g.name != ex.names[index]), key=lambda g: -abs(g.total))[:2]
        for g in others:
            print(f"  {g.name} graph: total {g.total:+.3f}")
    if args.png:
        pictures.write_png(explain_figure(ex), args.png)
        print(f"picture written to {args.png}", file=sys.stderr)
    return 0


def _print_graph(ex: ImageExplanation, name, contribution) -> None:
    offset = ex.slot_offset(name)
    for slot, concept_id in enumerate(ex.extracted.library.get(name).graph.nodes, start=1):
        present = bool(ex.batch.present[0, offset + slot - 1])
        where = "at ({:.2f}, {:.2f})".format(*ex.batch.pos[0, offset + slot - 1].tolist()) if present else "absent"
        print(f"  concept {slot}  {concept_id:<24} {where:<18} {float(contribution.nodes[slot - 1]):+.3f}")
    for (s, d), value in zip(contribution.edge_list, contribution.edges.tolist()):
        print(f"  edge {s + 1}->{d + 1}".ljust(46) + f"{value:+.3f}")


def matched_boxes(ex: ImageExplanation, index: int) -> list:
    """Normalised box (x0, y0, x1, y1) of the segment matched to each slot of class ``index``'s graph, or None.

    The same one-to-one assignment that built the I-SCG (scg.match_class), repeated here because the
    batch keeps only the matched patches' features and centres, not which segments they were.
    """
    from hni_engine.graphs.scg import match_nodes

    nodes = ex.extracted.nodes(ex.names[index])
    if not nodes:
        return []
    patches = ex.patches
    candidates = np.flatnonzero(patches.candidates[ex.rows[index]])
    chosen = match_nodes(patches.features[candidates], np.stack([n.anchor for n in nodes]).astype(np.float32),
                         np.array([n.threshold for n in nodes], dtype=np.float32))
    masks = ex.analyser.masks(ex.image, ex.digest) if (chosen >= 0).any() else None
    boxes = []
    for c in chosen:
        if c < 0:
            boxes.append(None)
            continue
        mask = masks[candidates[c]]
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        boxes.append((float(xs.min() / w), float(ys.min() / h), float((xs.max() + 1) / w), float((ys.max() + 1) / h)))
    return boxes


def explain_panels(ex: ImageExplanation) -> list:
    """One picture panel per question: its own graph's slots, matched boxes and contributions, as printed."""
    from hni_engine.present.pictures import ExplainedNode, ExplainPanel

    panels = []
    for title, index, result in ex.questions:
        name = ex.names[index]
        own, offset = result[name], ex.slot_offset(name)
        nodes = []
        for slot, (concept_id, box) in enumerate(zip(ex.extracted.library.get(name).graph.nodes,
                                                     matched_boxes(ex, index)), start=1):
            centre = tuple(ex.batch.pos[0, offset + slot - 1].tolist()) if box is not None else None
            nodes.append(ExplainedNode(slot, concept_id, float(own.nodes[slot - 1]), box, centre))
        edges = tuple((s + 1, d + 1, float(v)) for (s, d), v in zip(own.edge_list, own.edges.tolist()))
        panels.append(ExplainPanel(f"{title} (GRN score {result.logit:+.3f})", tuple(nodes), edges))
    return panels


def explain_figure(ex: ImageExplanation):
    from hni_engine.present.pictures import explain_picture

    net_pred = int(ex.network.argmax())
    header = (f"{os.path.basename(ex.path)}: network predicts {ex.classes[net_pred]} "
              f"(p={float(ex.network[net_pred]):.2f}), GRN predicts {ex.names[ex.grn_pred]}")
    return explain_picture(ex.image, explain_panels(ex), header)


# -- human -> NN ------------------------------------------------------------------------------------

def _load_plan_file(path: str):
    """A plan saved by `hni plan -o`, with its scripts read back from where the plan names them."""
    from pydantic import ValidationError

    from hni_dsl.fileio import read_text
    from hni_dsl.plan import Plan, StalePlanError

    try:
        plan = Plan.model_validate_json(read_text(path, "plan"))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HniError(f"{path}: not an hni plan ({where}: {first['msg']}); make one with `hni plan -o`") from None
    sources = {}
    for ref in plan.scripts:
        try:
            sources[ref.path] = read_text(ref.path, "script")
        except Exception:
            raise StalePlanError(f"{path}: the plan's script {ref.path} cannot be read; make the plan again") from None
    return plan, sources


def cmd_apply(args) -> int:
    from hni_dsl import load_library, make_plan
    from hni_dsl.plan import apply_plan

    from hni_engine.edit.apply import current_state, apply_plan_to_network
    from hni_engine.cli.app import EXIT_ERRORS, _print_diagnostics, _scripts, _tally

    _threads()
    ws = Workspace(args.workspace)
    ws.config  # a bad hni.toml fails here, before any work
    state = current_state(ws)
    library = load_library(state.library_path)
    if len(args.scripts) == 1 and args.scripts[0].endswith(".json"):
        plan, sources = _load_plan_file(args.scripts[0])
        after = apply_plan(library, plan, sources)  # refuses a stale plan
    else:
        scripts = _scripts(args)
        outcome = make_plan(library, scripts, str(state.library_path))
        _print_diagnostics(outcome.diagnostics, outcome.sources, args.max_errors)
        if outcome.plan is None:
            print(f"error: nothing applied: {_tally(outcome.diagnostics)}")
            return EXIT_ERRORS
        plan, after, sources = outcome.plan, outcome.library_after, outcome.sources
    where = f"run {state.run}" if state.run else "the extracted network"
    if not plan.has_changes:
        done = [r.path for r in plan.scripts if r.status == "already_applied"]
        idle = [r.path for r in plan.scripts if r.status == "no_changes"]
        parts = ([f"already applied: {', '.join(done)}"] if done else []) + \
                ([f"no changes: {', '.join(idle)}"] if idle else [])
        print(f"nothing to apply ({'; '.join(parts)}); the current network is {where}")
        return 0
    print(plan.text.rstrip())
    print(f"applying to {where} ({state.model_path})")
    result = apply_plan_to_network(ws, plan, after, sources, device=resolve_device(args.device),
                                   use_cache=not args.no_cache)
    print()
    print(result.table())
    grn = result.metrics["grn"]["test_accuracy"]
    if grn is not None:
        print(f"GRN on the edited graphs: test accuracy {grn:.3f}")
    print(f"run written to {result.run_dir} (now the current network; `hni eval --model {result.run_dir}`)")
    return 0


def cmd_demo(args) -> int:
    from hni_engine.cli.demo import run_demo

    _threads()
    return run_demo(args.scenario, quick=args.quick, root=args.dir, seed=args.seed, force=args.force,
                    device=resolve_device(args.device))
