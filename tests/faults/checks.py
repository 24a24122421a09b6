"""What the fault tests assert again and again: a command refused in one line, and a workspace unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hni_engine.cli.app import main
from hni_engine.cli.language_commands import EXIT_ERRORS, EXIT_USAGE


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file's sha256 (a symlink, dangling or not: "link"), leaving out the folder ``skip`` (path parts
    from ``root``, e.g. (".hni",) for hni's cache and lock)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "link"
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and not (skip and p.relative_to(root).parts[: len(skip)] == skip)
    }


def refused(capsys, argv: list[str], *fragments: str) -> str:
    """Run `hni argv`: it must fail (1) or refuse its input (usage, 3) with one error line holding every
    fragment (after argparse's usage text, for a bad flag), and no traceback. Returns the line."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code in (EXIT_ERRORS, EXIT_USAGE), err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if code == EXIT_USAGE and lines and lines[0].startswith("usage:"):
        lines = lines[-1:]  # argparse shows the usage, then its one error line
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)
    return lines[0]
