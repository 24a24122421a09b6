"""The commands that make a workspace's network and concepts: `hni init`, `train`, `eval`, `extract`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_engine.cli.device import limit_threads, resolve_device
from hni_engine.cli.init_workspace import init_scenario, init_user
from hni_engine.compute.backend import resolve_backend
from hni_engine.data.split import SPLIT_FILE
from hni_engine.graphs.extract import extract
from hni_engine.network.models import ModelError, build_model, load_checkpoint, save_checkpoint
from hni_engine.network.training import evaluate, seed_everything, train_classifier
from hni_engine.progress import bar
from hni_engine.store import preflight
from hni_engine.store.datahash import warn_stale
from hni_engine.store.recorded import config_record
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["cmd_eval", "cmd_extract", "cmd_init", "cmd_train"]


def cmd_init(args: argparse.Namespace) -> int:
    if args.scenario and (args.data or args.model):
        raise HniError("hni init: give either --scenario NAME, or --data PATH [--model CKPT] (not both)")
    if args.scenario and args.class_index:
        raise HniError("hni init: --class-index names the outputs of your --model; a scenario trains its own")
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
    if not args.data:
        raise HniError("hni init: give --scenario NAME, or --data PATH (and --model CKPT if you have a network)")
    ws, notes = init_user(
        args.dir,
        args.data,
        args.model,
        args.arch,
        input_size=args.input_size,
        feature_layer=args.feature_layer,
        gradcam_layer=args.gradcam_layer,
        test_fraction=args.test_fraction,
        seed=args.seed,
        class_index=args.class_index,
    )
    for note in notes:
        print(note, file=sys.stderr if note.startswith("warning:") else sys.stdout)
    split = ws.root / "data" / SPLIT_FILE
    if split.is_file():
        counts = json.loads(split.read_text(encoding="utf-8"))["counts"]
        print(
            f"no test split in {args.data}: {counts['test']} of its images held out for testing "
            f"(seed {args.seed}; {split})"
        )
    network, then = (f"model {args.model}", "extract") if args.model else ("no model yet", "train")
    print(f"workspace {ws.root}: data {args.data}, {network} ({args.arch}); next: hni -w {ws.root} {then}")
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
    preflight.before_train(ws)  # a read-only workspace, a full disk or a checkpoint of yours: refused now
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
        # what later commands compare hni.toml with (Workspace.check_config)
        "config": config_record(config.model_copy(update={"train": train_config})),
    }
    atomic_write_text(ws.model_path.with_suffix(".json"), json.dumps(metrics, indent=2) + "\n")
    print(report.test.table())
    print(f"model written to {ws.model_path} (sha256 {sha[:12]}), {report.seconds:.0f} s")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    config = ws.config
    warn_stale(ws)
    device = resolve_device(args.device)
    classes = ws.data_classes()
    if args.model is None:
        _warn(ws.check_config("eval"))
    path = args.model or ws.model_path
    if args.model and os.path.isdir(args.model):  # a run folder
        path = os.path.join(args.model, "model.pt")
    # A run's network may know classes the training data lacks (defined ones): its own list decides.
    classes = _checkpoint_classes(path) or classes
    loaded = load_checkpoint(path, config.model.arch, classes)
    trained_at = loaded.extra.get("input_size")
    if type(trained_at) is int and trained_at != config.model.input_size:
        raise ModelError(
            f"{path}: the network was trained on {trained_at} px images (its input_size), but "
            f"{ws.config_path}'s model.input_size is {config.model.input_size}"
        )
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
    """The class list stored beside a run's network (classes.json), if there is one: a JSON list of names."""
    listed = os.path.join(os.path.dirname(str(path)), "classes.json")
    if os.path.basename(str(path)) != "model.pt" or not os.path.isfile(listed):
        return None
    try:
        with open(listed, encoding="utf-8") as handle:
            names = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{listed}: not a readable class list ({type(exc).__name__}: {exc})") from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ModelError(f"{listed}: expected a JSON list of class names (got {str(names)[:60]})")
    return names


def cmd_extract(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    _warn(ws.check_config("extract"))
    preflight.before_extract(ws, use_cache=not args.no_cache)
    device = resolve_device(args.device)
    backend = resolve_backend(args.backend, ws.config.compute)
    if backend.distributed:
        print(f"computing on {backend.describe()}", file=sys.stderr)
    start = time.perf_counter()
    result = extract(ws, device=device, use_cache=not args.no_cache, backend=backend)
    print(f"concept library: {ws.library_path} ({len(result.library.classes)} classes)")
    print(f"GRN fidelity (top-1 agreement with the network, held-out images): {result.fidelity:.3f}")
    for name, used in result.report.get("frequency_rule_relaxed", {}).items():
        print(
            f"note: {name}'s concepts recur in fewer images than extract.min_cluster_images asks; "
            f"kept clusters found in >= {used:.0%} of its images"
        )
    print(f"done in {time.perf_counter() - start:.0f} s ({result.report.get('cache', '')}); see `hni show CLASS`")
    return 0


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)
