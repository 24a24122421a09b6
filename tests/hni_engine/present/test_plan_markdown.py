"""`hni plan --format markdown`: the plan for a pull request, its pictures beside it, links relative to it.

The Markdown is rendered to HTML as a git host would (markdown-it, tables on) and every image it shows must
be a picture on disk; the browser test opens that HTML in Chromium when it is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from hni_engine.cli.app import main


@pytest.fixture
def workspace(tiny_extracted, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(tiny_extracted, root, ignore=shutil.ignore_patterns(".hni"))
    library = json.loads((root / "concepts" / "library.json").read_text())
    first, second = library["classes"][0], library["classes"][1]
    (root / "edits" / "001_review.hni").write_text(
        f"class {first['name']}: replace concept 1 with {second['name']}.pool[1]\n"
        f"class {second['name']}: drop concept 2\n",
        encoding="utf-8",
    )
    return root


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_plan_links_its_pictures(workspace, tmp_path, capsys):
    out = tmp_path / "pr" / "plan.md"
    out.parent.mkdir()
    assert main(["-w", str(workspace), "plan", "--format", "markdown", "-o", str(out)]) == 2  # 2: changes
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# hni plan") and "c-SCG before" in text and "leaves the c-SCG" in text
    assert capsys.readouterr().out == ""  # with -o the Markdown goes to the file only
    assert re.search(r"sha256 `[0-9a-f]{12}`", text)  # the hashes that bind the plan
    html = _html(text)
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= 5  # two classes' graphs before and after, and the changed concepts' strips
    for src in sources:
        assert not src.startswith(("/", "http")) and src.startswith("plan.md.images/")
        with Image.open(out.parent / src) as picture:
            assert picture.width > 40 and picture.height > 40
    assert "<table>" in html  # before and after side by side
    # the same plan as JSON still binds the same library
    assert main(["-w", str(workspace), "plan", "--format", "json"]) == 2
    found = json.loads(capsys.readouterr().out)
    assert found["library_sha256"][:12] in text


def test_markdown_plan_options_are_checked(workspace, tmp_path, capsys):
    w = ["-w", str(workspace), "plan"]
    assert main([*w, "--format", "markdown"]) == 2  # to stdout, text only
    assert "run `hni plan --format markdown -o FILE --images DIR`" in capsys.readouterr().out
    assert main([*w, "--format", "markdown", "--images", str(tmp_path / "img")]) == 3  # 3: a usage error
    assert "--images needs -o FILE" in capsys.readouterr().err
    assert main([*w, "--images", str(tmp_path / "img")]) == 3
    assert "--images goes with --format markdown" in capsys.readouterr().err
    assert main([*w, "--json", "--format", "markdown"]) == 3
    assert not (tmp_path / "img").exists()
    images = tmp_path / "elsewhere"
    out = tmp_path / "plan.md"
    assert main([*w, "--format", "markdown", "-o", str(out), "--images", str(images)]) == 2
    assert "](elsewhere/" in out.read_text() and any(images.iterdir())


def test_the_rendered_plan_opens_in_a_browser(workspace, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (`make browser` installs it)")
    out = tmp_path / "plan.md"
    assert main(["-w", str(workspace), "plan", "--format", "markdown", "-o", str(out)]) == 2
    page = tmp_path / "plan.html"
    page.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{_html(out.read_text())}</body>", encoding="utf-8")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count("<img") == out.read_text().count("![") > 0
    shot = tmp_path / "plan.png"
    subprocess.run(
        [*flags, "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(shot) as img:
        assert len(img.convert("RGB").getcolors(1 << 20)) > 50  # the pictures were drawn, not broken icons
    assert Path(shot).stat().st_size > 0


def test_markdown_plan_needs_no_torch(workspace, tmp_path):
    """A pull request's CI job installs `hni[review]` (Pillow, numpy): the plan with pictures imports no torch."""
    import subprocess
    import sys

    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision', 'torch_geometric', 'sklearn', 'skimage'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from hni_engine.cli.app import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    out = tmp_path / "plan.md"
    done = subprocess.run(
        [sys.executable, "-c", blocker, "-w", str(workspace), "plan", "--format", "markdown", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert any((tmp_path / "plan.md.images").iterdir())


def test_names_show_and_nothing_in_them_becomes_html(workspace, tmp_path):
    """A person's name for a concept appears beside its id, escaped: it cannot add a tag or a link."""
    library = json.loads((workspace / "concepts" / "library.json").read_text())
    second = library["classes"][1]
    dropped = second["graph"]["nodes"][1]  # `drop concept 2` in the fixture's script
    hostile = "<script>alert(1)</script> *[x](http://e.org)* `tick"
    assert main(["-w", str(workspace), "name", dropped, hostile]) == 0
    out = tmp_path / "plan.md"
    assert main(["-w", str(workspace), "plan", "--format", "markdown", "-o", str(out)]) == 2
    html = _html(out.read_text())
    assert "<script>" not in html and 'href="http://e.org"' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_outputs_that_would_overwrite_something_are_refused_before_any_write(workspace, tmp_path, capsys):
    """-o never replaces a device, a script, the library or the workspace's own files; --images never writes
    into a folder of other files or into the workspace; a refusal writes nothing at all."""
    w = ["-w", str(workspace), "plan", "--format", "markdown"]
    script = workspace / "edits" / "001_review.hni"
    kept = lambda: {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".hni" not in p.parts}  # noqa: E731
    before = kept()
    for target in (script, workspace / "concepts" / "library.json", workspace / "hni.toml"):
        assert main([*w, "-o", str(target)]) == 3
        assert "write the plan elsewhere" in capsys.readouterr().err
    assert main(["-w", str(workspace), "plan", "--json", "-o", str(script)]) == 3  # JSON too
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main([*w, "-o", str(fifo)]) == 3
    assert "not a regular file" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "01-bus-after.png").write_bytes(b"USER")  # a name hni would use, among a file of the user's
    (mine / "notes.txt").write_text("keep")
    assert main([*w, "-o", str(tmp_path / "p.md"), "--images", str(mine)]) == 3
    assert "holds files hni did not write (notes.txt)" in capsys.readouterr().err
    assert main([*w, "-o", str(tmp_path / "p.md"), "--images", str(workspace / "concepts")]) == 3
    (tmp_path / "adir").mkdir()  # a folder as FILE
    assert main([*w, "-o", str(tmp_path / "adir")]) == 3
    assert main([*w, "-o", str(tmp_path / "p.md"), "--images", str(tmp_path / "p.md" / "x")]) == 3
    assert (mine / "01-bus-after.png").read_bytes() == b"USER"
    assert not (tmp_path / "p.md").exists() and not (tmp_path / "adir.images").exists()
    assert kept() == before  # (.hni/ is the workspace's cache: reading the data's file list may fill it)
