"""The commands that make a workspace's network and concepts: `hni init`, `train`, `eval`, `extract`."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_engine.cli.device import limit_threads, resolve_device
from hni_engine.cli.init_workspace import init_scenario, init_user
from hni_engine.graphs.extract import extract
from hni_engine.network.models import build_model, load_checkpoint, save_checkpoint
from hni_engine.network.training import evaluate, seed_everything, train_classifier
from hni_engine.progress import bar
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["cmd_eval", "cmd_extract", "cmd_init", "cmd_train"]


def cmd_init(args: argparse.Namespace) -> int:
    if args.scenario and (args.data or args.model):
        raise HniError("hni init: give either --scenario NAME, or --data PATH --model CKPT (not both)")
    if args.scenario:
        with bar(None, f"generating the {args.scenario} scenario", "img") as progress:

            def generated(done: int, total: int) -> None:
                progress.total = total
                progress.update(1)

            ws = init_scenario(
                args.dir,
                args.scenario,
                seed=args.seed,
                quick=args.quick,
                image_size=args.image_size,
                progress=generated,
            )
        print(f"workspace {ws.root}: {args.scenario} scenario (seed {args.seed}); next: hni -w {ws.root} train")
        return 0
    if not (args.data and args.model):
        raise HniError("hni init: give --scenario NAME, or --data PATH and --model CKPT (with --arch)")
    ws = init_user(
        args.dir,
        args.data,
        args.model,
        args.arch,
        input_size=args.input_size,
        feature_layer=args.feature_layer,
        gradcam_layer=args.gradcam_layer,
    )
    print(f"workspace {ws.root}: data {args.data}, model {args.model} ({args.arch}); next: hni -w {ws.root} extract")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    config = ws.config
    if ws.model_path.exists() and not args.force:
        raise WorkspaceError(
            f"{ws.model_path}: a model exists; `hni train --force` replaces it (and makes the "
            f"concepts extracted from it stale)"
        )
    device = resolve_device(args.device)
    classes = ws.data_classes()
    with bar(None, "loading images", "img") as progress:
        train = ws.load_split("train", classes, lambda d, t: progress.update(1))
        test = ws.load_split("test", classes, lambda d, t: progress.update(1))
    train_config = config.train if args.epochs is None else config.train.model_copy(update={"epochs": args.epochs})
    seed_everything(config.seed)  # the initial weights too: same workspace and seed, same network
    model = build_model(config.model.arch, len(classes))
    with bar(train_config.epochs, f"training {config.model.arch}", "epoch") as progress:

        def trained(epoch: int, epochs: int, loss: float) -> None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.3f}")

        report = train_classifier(
            model,
            train,
            train_config,
            config.model.mean,
            config.model.std,
            seed=config.seed,
            device=device,
            test=test,
            progress=trained,
        )
    sha = save_checkpoint(
        model.cpu(),
        config.model.arch,
        classes,
        ws.model_path,
        input_size=config.model.input_size,
        mean=list(config.model.mean),
        std=list(config.model.std),
        seed=config.seed,
    )
    assert report.test is not None  # train_classifier evaluates on the test split it was given
    metrics = {
        "model_sha256": sha,
        "seconds": round(report.seconds, 1),
        "epochs": train_config.epochs,
        "train_loss": [round(x, 4) for x in report.train_loss],
        "test_accuracy": report.test.accuracy,
        "per_class": report.test.per_class,
        "confusion": report.test.confusion,
        "classes": classes,
    }
    atomic_write_text(ws.model_path.with_suffix(".json"), json.dumps(metrics, indent=2) + "\n")
    print(report.test.table())
    print(f"model written to {ws.model_path} (sha256 {sha[:12]}), {report.seconds:.0f} s")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    limit_threads()
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


def _checkpoint_classes(path: str | Path) -> list[str] | None:
    """The class list stored beside a run's network (classes.json), if there is one."""
    listed = os.path.join(os.path.dirname(str(path)), "classes.json")
    if os.path.basename(str(path)) == "model.pt" and os.path.isfile(listed):
        with open(listed, encoding="utf-8") as handle:
            return list(json.load(handle))
    return None


def cmd_extract(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    device = resolve_device(args.device)
    start = time.perf_counter()
    result = extract(ws, device=device, use_cache=not args.no_cache)
    print(f"concept library: {ws.library_path} ({len(result.library.classes)} classes)")
    print(f"GRN fidelity (top-1 agreement with the network, held-out images): {result.fidelity:.3f}")
    for name, used in result.report.get("frequency_rule_relaxed", {}).items():
        print(
            f"note: {name}'s concepts recur in fewer images than extract.min_cluster_images asks; "
            f"kept clusters found in >= {used:.0%} of its images"
        )
    print(f"done in {time.perf_counter() - start:.0f} s ({result.report.get('cache', '')}); see `hni show CLASS`")
    return 0
