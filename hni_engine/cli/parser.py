"""The `hni` command line's arguments: every command, its options and its help, in one place.

Each command's parser names its handler by the command's name; `hni_engine.cli.app` dispatches on it, so
building the parser imports no command (and no torch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from hni_engine.cli.config_command import add_config_parser
from hni_engine.cli.language_commands import EXIT_USAGE
from hni_engine.cli.name_command import add_name_parser
from hni_engine.cli.runs_command import add_runs_parsers
from hni_engine.cli.suggest_command import add_suggest_parser
from hni_engine.store.config import SEED_LIMIT
from hni_engine.store.provenance import package_version

__all__ = ["ArgumentParser", "build_parser"]


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2; 2 means "changes" for `hni plan`
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]; anything else is a usage error that shows the value.

    >>> integer(1)("3"), integer(0, 9)("9")
    (3, 9)
    """

    def parse(text: str) -> int:
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {span} (got {text!r})") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {span} (got {text!r})")
        return value

    return parse


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1 (not nan).

    >>> fraction("0.25")
    0.25
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:  # false for nan too
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, e.g. 0.2 (got {text!r})")
    return value


SEED = integer(0, SEED_LIMIT - 1)
IMAGE_SIZE = integer(16, 1024)  # as hni.toml's model.input_size
COUNT = integer(0)
POSITIVE = integer(1)


def _wait_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another command is writing the workspace, queue behind it (default: refuse)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="hni",
        description="Read, review and change what an image classifier has learnt, as concept-graph edit scripts.",
    )
    parser.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    parser.add_argument("--version", action="version", version=f"hni {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    def language_command(name: str, help_text: str, handler: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "scripts", nargs="*", metavar="SCRIPT", help="edit scripts (default: the workspace's edits/*.hni)"
        )
        p.add_argument(
            "--max-errors", type=COUNT, default=50, metavar="N", help="show at most N diagnostics (default 50)"
        )
        # Also after the command, as a pre-commit hook's `args` put it: `hni check -w ws edits/x.hni`.
        p.add_argument("-w", "--workspace", default=argparse.SUPPRESS, help="workspace folder (as `hni -w`)")
        p.set_defaults(handler=handler)
        return p

    check = language_command("check", "parse and check edit scripts against the concept library", "check")
    check.add_argument(
        "--library", metavar="LIB", help="library.json (default: the workspace's current one, see `hni apply`)"
    )
    check.add_argument(
        "--explain",
        metavar="CODE",
        nargs="?",
        const="",
        default=None,
        help="print what diagnostic CODE (e.g. E101) means and how to fix it; no CODE lists them all",
    )

    fmt = language_command("fmt", "print scripts in canonical form, or --check / --write them", "fmt")
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if any script is not canonical")
    mode.add_argument("--write", action="store_true", help="rewrite non-canonical scripts in place")

    plan = language_command("plan", "show the reviewable diff of the c-SCGs the scripts would make", "plan")
    plan.add_argument(
        "--library", metavar="LIB", help="library.json (default: the workspace's current one, see `hni apply`)"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON (transforms and hashes included)")
    plan.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        help="text (default), json (as --json), or markdown: the plan for a pull request, with -o and --images",
    )
    plan.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="also write the plan to this file (JSON, or Markdown with --format markdown)",
    )
    plan.add_argument(
        "--images",
        metavar="DIR",
        help="with --format markdown: the folder for the pictures the Markdown links (default: FILE + .images)",
    )

    # -- the engine (torch) ---------------------------------------------------------------------
    def engine_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--device",
            choices=["auto", "cpu", "cuda"],
            default="auto",
            help="where to compute (auto: CUDA when present)",
        )
        p.set_defaults(handler=name)
        return p

    init = engine_command("init", "make a workspace: a built-in scenario, or your own data and model")
    init.add_argument("dir", metavar="DIR", help="the new workspace folder (must not exist or be empty)")
    init.add_argument(
        "--scenario", choices=["spurious", "posebias", "zeroshot", "digits"], help="built-in synthetic data"
    )
    init.add_argument("--seed", type=SEED, default=0, help="seed of the scenario and of every later stage")
    init.add_argument("--quick", action="store_true", help="a small scenario (30 train / 15 test images per class)")
    init.add_argument("--image-size", type=IMAGE_SIZE, default=64, help="synthetic image size in pixels (default 64)")
    init.add_argument(
        "--data",
        metavar="PATH",
        help="your data: PATH/train and PATH/test in ImageFolder layout, or one ImageFolder to split (--test-fraction)",
    )
    init.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="F",
        help="with no PATH/test: the share of each class held out for testing, drawn with --seed (default 0.2)",
    )
    init.add_argument(
        "--model", metavar="CKPT", help="your network: a state dict or whole-model file (none: `hni train` makes one)"
    )
    init.add_argument("--arch", default="resnet18", help="torchvision architecture of --model (default resnet18)")

    def class_index(text: str) -> tuple[str, int]:
        """CLASS=INDEX (split at the last `=`): a data class, and the output of --model that it is."""
        name, sep, index = text.rpartition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected CLASS=INDEX, e.g. 'fire engine=555' (got {text!r})")
        if not (index.strip().isascii() and index.strip().isdigit()):
            raise argparse.ArgumentTypeError(f"INDEX in CLASS=INDEX must be a whole number >= 0 (got {text!r})")
        return name, int(index)

    init.add_argument(
        "--class-index",
        type=class_index,
        action="append",
        default=[],
        metavar="CLASS=INDEX",
        help="with --model: the output of the checkpoint that data class CLASS is (repeatable; wins over matching "
        "class folders by name with the checkpoint's class list or ImageNet's categories), e.g. 'fire engine=555'",
    )
    init.add_argument("--input-size", type=IMAGE_SIZE, default=224, help="input size of your network (default 224)")
    init.add_argument(
        "--feature-layer", help="layer for patch features (default: the deepest stage whose map is at least 7x7)"
    )
    init.add_argument("--gradcam-layer", help="layer for Grad-CAM (default: as --feature-layer)")

    train = engine_command("train", "train the original network from scratch on the workspace's data")
    train.add_argument("--epochs", type=POSITIVE, help="override train.epochs of hni.toml")
    train.add_argument("--force", action="store_true", help="replace an existing model/base.pt")
    _wait_flag(train)

    ev = engine_command("eval", "per-class accuracy and confusion matrix on the test split")
    ev.add_argument("--model", metavar="PATH", help="a checkpoint other than the workspace's base model")

    ex = engine_command("extract", "discover concepts, build the c-SCGs and train the GRN that mimics the network")
    ex.add_argument("--no-cache", action="store_true", help="recompute every stage (the cache is left alone)")
    ex.add_argument(
        "--backend",
        choices=["local", "ray"],
        help="where the per-image pass runs (default: hni.toml's compute.backend; ray: README, 'Running on a cluster')",
    )
    _wait_flag(ex)

    apply = engine_command(
        "apply",
        "apply edit scripts (or a saved plan) to the network: retrain the GRN, "
        "distil into the network, write runs/<id>/",
    )
    apply.add_argument(
        "--backend",
        choices=["local", "ray"],
        help="where distillation trains (default: hni.toml's compute.backend; ray: Ray Train, compute.workers workers)",
    )
    apply.add_argument(
        "scripts",
        nargs="*",
        metavar="SCRIPT|PLAN.json",
        help="edit scripts, or one plan saved by `hni plan -o` (default: edits/*.hni in name order)",
    )
    apply.add_argument("--no-cache", action="store_true", help="recompute patch features instead of reading the cache")
    apply.add_argument("--max-errors", type=COUNT, default=50, metavar="N", help="show at most N diagnostics")
    _wait_flag(apply)

    doctor = sub.add_parser(
        "doctor",
        help="report what an interrupted command left in the workspace; --fix repairs it",
        description="report what an interrupted command left in the workspace; --fix repairs it",
    )
    doctor.add_argument("--fix", action="store_true", help="repair what can be repaired (takes the writer lock)")
    _wait_flag(doctor)
    doctor.set_defaults(handler="doctor")

    demo = engine_command(
        "demo",
        "from nothing to a before/after table: generate a scenario, train, extract, apply the oracle's edit "
        "script (from the generator's labels) and the suggestions (from the evidence), compare with no edit",
    )
    demo.add_argument(
        "--scenario",
        choices=["spurious", "posebias", "zeroshot", "digits"],
        default="posebias",
        help="which built-in scenario (default posebias: its script needs no reviewer's choice)",
    )
    demo.add_argument("--quick", action="store_true", help="a small version (about two minutes on two cores)")
    demo.add_argument("--dir", metavar="DIR", help="the demo workspace (default: ./hni-demo-SCENARIO[-quick])")
    demo.add_argument("--seed", type=SEED, default=0, help="seed of the scenario and of every stage")
    demo.add_argument("--force", action="store_true", help="replace an existing demo workspace")

    add_config_parser(sub)
    add_name_parser(sub)
    add_suggest_parser(sub)
    add_runs_parsers(sub)

    show = sub.add_parser(
        "show",
        help="a class's c-SCG (numbered as edit scripts number it), or its pool",
        description="a class's c-SCG (numbered as edit scripts number it), or its pool",
    )
    show.add_argument("cls", metavar="CLASS")
    show.add_argument("--pool", action="store_true", help="the ranked pool (`pool[N]`) instead of the c-SCG")
    show.add_argument(
        "--library", metavar="LIB", help="library.json (default: the workspace's current one, see `hni apply`)"
    )
    show.add_argument(
        "--png",
        metavar="FILE",
        help="also draw it: exemplar patches numbered as scripts number them, edges coloured by their learnt weight",
    )
    show.set_defaults(handler="show")

    report = sub.add_parser(
        "report",
        help="one self-contained HTML file: each class's c-SCG and pool, and the "
        "current (or named) run's scripts, plan and before/after accuracy",
        description="one self-contained HTML file (pictures embedded, nothing fetched): each "
        "class's c-SCG and pool, and the run's scripts, plan, before/after accuracy "
        "and confusion matrices",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: WORKSPACE/report.html)")
    report.add_argument(
        "--run",
        metavar="ID",
        help="the run to report (default: runs/HEAD, if there is one); a unique prefix such as 0002 will do",
    )
    report.add_argument(
        "--classes",
        metavar="A,B,...",
        help="only these classes (default: every class of the library: the run's, or the extraction's)",
    )
    report.set_defaults(handler="report")

    comp = engine_command(
        "compare", "what an edit did to the network's reasoning: accuracy, concept importance, edge weights"
    )
    comp.add_argument("a", metavar="A", nargs="?", help="`base` (the extraction) or a run (default: base)")
    comp.add_argument("b", metavar="B", nargs="?", help="a run, or `base` (default: the current run, runs/HEAD)")
    comp.add_argument("--json", action="store_true", help="print the measurements as JSON")

    explain = engine_command("explain", "why the network (through its GRN) decides as it does on one image")
    explain.add_argument("image", metavar="IMAGE")
    explain.add_argument("--why-not", metavar="CLASS", help="also explain why not this class (its own score)")
    explain.add_argument(
        "--png",
        metavar="FILE",
        help="also draw it: matched concepts outlined on the image, numbered by slot, coloured by contribution",
    )
    which = explain.add_mutually_exclusive_group()
    which.add_argument(
        "--run",
        metavar="ID",
        help="explain this run's network and GRN (an id or unique prefix; default: the current run, runs/HEAD)",
    )
    which.add_argument(
        "--base",
        action="store_true",
        help="explain the extraction's network and mimic GRN even when edits were applied",
    )
    return parser
