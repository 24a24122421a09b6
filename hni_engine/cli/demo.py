"""`hni demo`: from nothing to a before/after table in one command.

Generates a built-in scenario into a fresh workspace, trains the original network, extracts its
concepts, writes the oracle edit script (it reads the generator's labels) into `edits/`, applies it and
prints per-class test accuracy before and after. Then it drafts a script from the evidence alone
(`hni suggest`), applies it blindly to the same extraction, and prints the three side by side: oracle,
suggested, no edit (hni_engine.cli.demo_compare). Every step is the ordinary command, so the workspace it
leaves is one a user can go on with (`hni show`, `hni explain`, `hni checkout`, more scripts); HEAD is the
oracle run.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from hni_dsl import load_library
from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_engine.cli import apply_command, build_commands, runs_command, suggest_command
from hni_engine.cli.demo_compare import comparison, suggest_and_apply
from hni_engine.cli.device import limit_threads, resolve_device
from hni_engine.cli.parser import build_parser
from hni_engine.oracle.scenario_scripts import oracle_names, oracle_script
from hni_engine.store.config import HniConfig, TrainConfig, write_config
from hni_engine.store.names import NAMES_FILE, load_names, write_names
from hni_engine.store.runs import read_head
from hni_engine.store.workspace import Workspace

__all__ = ["cmd_demo", "quick_overrides", "run_demo"]

# The commands the demo runs, each exactly as `hni COMMAND` runs it.
STEPS = {
    "init": build_commands.cmd_init,
    "train": build_commands.cmd_train,
    "extract": build_commands.cmd_extract,
    "apply": apply_command.cmd_apply,
    "checkout": runs_command.cmd_checkout,
    "suggest": suggest_command.cmd_suggest,
}


def quick_overrides(config: HniConfig) -> HniConfig:
    """The `--quick` demo's settings: smaller discovery, fewer GRN and distillation epochs."""
    e = config.extract
    # With `concept_region = "image"` every segment is a candidate, most of them background: 12 clusters over
    # 20 images left no cluster for the small parts (posebias --quick, seed 0: 1 class of 3 had a concept of
    # its own part). That scenario's discovery costs a few seconds, so it keeps its own settings.
    if e.concept_region != "image":
        e = e.model_copy(update={"images_per_class": 20, "clusters": 12, "cluster_members": 20, "tcav_random_sets": 5})
    # A scenario that needs more training than the default to learn anything (digits: 36 epochs, or no digit
    # is learnt at all) keeps its own epochs; the others train for 8.
    epochs = config.train.epochs if config.train.epochs > TrainConfig().epochs else 8
    return config.model_copy(
        update={
            "train": config.train.model_copy(update={"epochs": epochs}),
            "extract": e,
            "grn": config.grn.model_copy(update={"epochs": 40}),
            "distill": config.distill.model_copy(update={"epochs": 6}),
        }
    )


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run_demo(
    scenario: str = "posebias",
    *,
    quick: bool = False,
    root: str | None = None,
    seed: int = 0,
    force: bool = False,
    device: str = "cpu",
) -> int:
    target = Path(root or f"hni-demo-{scenario}{'-quick' if quick else ''}")
    if target.exists() and any(target.iterdir()):
        if not force:
            raise HniError(f"{target}: exists; use --force to replace it, or --dir for another folder")
        if not (target / "hni.toml").is_file():
            raise HniError(f"{target}: not an hni workspace (no hni.toml); refusing to delete it")
        shutil.rmtree(target)
    start = time.perf_counter()
    w, d = str(target), device

    def run(*argv: str) -> None:
        print(f"$ hni -w {w} {' '.join(argv)}", flush=True)
        args = build_parser().parse_args(["-w", w, *argv])
        status = STEPS[args.command](args)
        if status != 0:
            raise HniError(f"the demo stopped: `hni -w {w} {' '.join(argv)}` exited with status {status}")

    _step(f"1/6 generating the {scenario} scenario{' (quick)' if quick else ''} into {target}")
    run("init", w, "--scenario", scenario, "--seed", str(seed), *(["--quick"] if quick else []), "--device", d)
    ws = Workspace(target)
    if quick:
        write_config(quick_overrides(ws.config), ws.config_path)
    _step("2/6 training the original network from scratch")
    run("train", "--device", d)
    _step("3/6 extracting concepts, c-SCGs and the GRN that mimics the network")
    run("extract", "--device", d)
    _step("4/6 the oracle edit script: it reads the generator's labels, which a user does not have (hni_engine.oracle)")
    script = oracle_script(Workspace(target), load_library(ws.library_path))
    script_path = target / "edits" / f"001_{scenario}-oracle.hni"
    atomic_write_text(script_path, script)
    print(f"{script_path}:\n")
    print(script.rstrip())
    # Names make the report and `hni show` readable; here they too come from the oracle, and say so.
    names = oracle_names(Workspace(target), load_library(ws.library_path))
    write_names(target, {**load_names(target), **names})
    print(f"\nnamed {len(names)} c-SCG concepts from the same ground truth ({target / NAMES_FILE}; `hni name`)")
    _step("5/6 applying it: GRN retrained on the edited graphs, distilled into the network")
    run("apply", str(script_path), "--device", d)
    oracle = read_head(ws)
    if oracle is None:  # the oracle script changed nothing: there is no run to set the suggestions beside
        raise HniError(f"the demo stopped: {script_path} changed nothing, so `hni apply` made no run")
    _step("6/6 what a user gets without the labels: `hni suggest`'s script, applied blindly to the same extraction")
    suggested = suggest_and_apply(ws, run, d)
    print("\n" + "\n".join(comparison(ws, oracle, suggested)))
    other = f"`hni -w {target} checkout {suggested.run}` the suggestions' run, " if suggested.run else ""
    print(
        f"\ndemo finished in {time.perf_counter() - start:.0f} s. Workspace: {target}; HEAD is the oracle run "
        f"{oracle} ({other}`checkout base` the extraction). Next: hni -w {target} show CLASS, "
        f"hni -w {target} runs, hni -w {target} report"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    limit_threads()
    return run_demo(
        args.scenario,
        quick=args.quick,
        root=args.dir,
        seed=args.seed,
        force=args.force,
        device=resolve_device(args.device),
    )
