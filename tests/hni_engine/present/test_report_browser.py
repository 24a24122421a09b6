"""`hni report` in a real browser: headless Chromium loads every embedded picture and logs no error.

Needs Chromium (`chromium` on PATH; Debian: apt-get install chromium chromium-driver, which `make test` does
when it runs as root) and, for the full check, selenium (pip install selenium) with chromedriver; each test
skips, saying which is missing, otherwise. With HNI_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser is
a failure instead, so CI cannot pass without running these tests.
The screenshots are kept in build/screenshots/ (or $HNI_SCREENSHOT_DIR) for people to look at.
The workspace is hand-made (the example library, a run folder with metrics), so no network is trained here;
its concepts have no exemplar files, so the pictures hold gray boxes, which are real PNGs all the same.
The first class's concepts carry evidence that makes `hni suggest` flag one of them, so the report has
suggestions with their pictures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.graphs.concept_cards import concept_card, place_summary
from hni_engine.present.report import render
from hni_engine.present.report_compare import BAR_WIDTH
from hni_engine.present.report_inputs import gather
from hni_engine.present.report_suggest import draft
from hni_engine.present.suggest_script import Suggestions
from hni_engine.present.suggestions import Finding
from hni_engine.store.workspace import Workspace

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


CHROMIUM = _chromium()
REQUIRED = os.environ.get("HNI_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(
    os.environ.get("HNI_SCREENSHOT_DIR") or Path(__file__).resolve().parents[3] / "build" / "screenshots"
)


def _missing(reason: str) -> None:
    """Skip, or fail where the browser is required (CI)."""
    if REQUIRED:
        pytest.fail(f"HNI_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        _missing("no headless Chromium on PATH (chromium, chromium-browser or google-chrome)")
    return CHROMIUM


def _keep(shot: Path, name: str) -> Path:
    """Copy a screenshot where people can find it after the run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    kept = SCREENSHOTS / name
    shutil.copyfile(shot, kept)
    print(f"screenshot: {kept}")
    return kept


def _add_concept_cards(ws: Path, library: dict) -> None:
    """Give the first class's concepts a picture in context, drawn as extraction draws it (a corner marker on
    a noise image: its heat map is one hot corner)."""
    rng = np.random.default_rng(0)
    entry = library["classes"][0]
    for concept in entry["pool"]:
        image = rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
        mask = np.zeros((64, 64), bool)
        mask[2:14, 2:14] = True
        centres = np.full((20, 2), 0.1) + rng.normal(0, 0.02, (20, 2))
        card = concept_card(
            concept["id"], [(image, mask, "img_0001.png")] * 3, centres, place_summary(centres, 0.035), 9, 10
        )
        relative = f"patches/{concept['id']}_context.jpg"
        (ws / "concepts" / relative).parent.mkdir(parents=True, exist_ok=True)
        card.save(ws / "concepts" / relative, quality=85)
        concept["context"] = relative
    (ws / "concepts" / "library.json").write_text(json.dumps(library))


def _add_evidence(library: dict) -> None:
    """The first class's concepts as extraction measures them; its slot 2 (pool[2]) is in 12 of the 20 test
    images that hold it another class's image the network calls this class: a spurious concept."""
    entry = library["classes"][0]
    other = library["classes"][1]["name"]
    for rank, concept in enumerate(entry["pool"], start=1):
        wrong = [{"true": other, "predicted": entry["name"], "images": 12}] if rank == 2 else []
        concept.update(
            logit_drop=1.0 / rank,
            p_value=0.001,
            stable=True,
            errors={
                "accuracy_with": 0.5,
                "accuracy_without": 0.9,
                "images_with": 20,
                "images_without": 40,
                "confusions": wrong,
            },
        )


@pytest.fixture
def report(tmp_path) -> Path:
    """A report of a hand-made workspace: the example library and one run (metrics as `hni apply` writes them)."""
    ws = tmp_path / "ws"
    (ws / "concepts").mkdir(parents=True)
    shutil.copy(EXAMPLES / "library.json", ws / "concepts" / "library.json")
    (ws / "concepts" / "extract.json").write_text(json.dumps({"fidelity_test": 0.9, "model_sha256": "ab" * 32}))
    library = json.loads((ws / "concepts" / "library.json").read_text())
    names = [c["name"] for c in library["classes"] if c["output_index"] is not None]
    _add_evidence(library)
    _add_concept_cards(ws, library)
    run = ws / "runs" / "0001-cafe0123"
    (run / "scripts").mkdir(parents=True)
    shutil.copy(ws / "concepts" / "library.json", run / "library.json")
    script = f"class {names[0]}: drop edges *\n"
    (run / "scripts" / "01_edges.hni").write_text(script)
    (run / "plan.txt").write_text(f"~ {names[0]}\n    - every edge\n1 class changed\n")
    n = len(names)
    confusion = [[5 if i == j else (1 if j == (i + 1) % n else 0) for j in range(n)] for i in range(n)]
    per_class = {c: 5 / 6 for c in names}
    metrics = {
        "format": "hni-run/1",
        "kind": "edge",
        "classes": names,
        "edited_classes": [names[0]],
        "defined_classes": [],
        "evaluated_classes": names,
        "before": {"per_class": per_class, "accuracy": 5 / 6, "confusion": confusion},
        "after": {"per_class": {**per_class, names[0]: 1.0}, "accuracy": 0.9, "confusion": confusion},
        "mean_change": {
            "edited": {"classes": [names[0]], "before": 0.8333, "after": 1.0, "change": 0.1667},
            "unedited": {"classes": names[1:], "before": 0.8333, "after": 0.8333, "change": 0.0},
        },
        "grn": {"test_accuracy": 0.95},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "provenance.json").write_text(json.dumps({"model_sha256": "cd" * 32, "parent_run": None}))
    first = library["classes"][0]
    nodes = first["graph"]["nodes"]
    comparison = {  # as `hni apply` records it: the extraction against the run, the edges dropped
        "format": "hni-compare/1",
        "a": "base",
        "b": run.name,
        "classes": [
            {
                "name": first["name"],
                "accuracy": [5 / 6, 1.0],
                "importance": {cid: [0.5 + 0.1 * i, 0.4 - 0.3 * i] for i, cid in enumerate(nodes)},
                "nodes": [nodes, nodes],
                "edges": [{f"{e['src']}->{e['dst']}": e["weight"] for e in first["graph"]["edges"]}, {}],
            }
        ],
    }
    (run / "compare.json").write_text(json.dumps(comparison))
    (ws / "runs" / "HEAD").write_text(run.name + "\n")
    out = tmp_path / "report.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    return out


@contextmanager
def _browser(chromium: str) -> Iterator:
    """A selenium-driven headless Chromium that keeps the page's console log; quit on the way out."""
    try:
        from selenium import webdriver
    except ImportError:
        _missing("selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver")
    service = webdriver.ChromeService(executable_path=driver_path) if driver_path else None
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except Exception as exc:
        if driver_path:  # the set-up installed both: a browser that will not start is a failure, not a skip
            raise
        # no chromedriver on PATH: selenium cannot fetch one without a network
        _missing(
            f"headless Chromium did not start through selenium (no chromedriver on PATH): {type(exc).__name__}: {exc}"
        )
    try:
        yield driver
    finally:
        driver.quit()


def test_every_picture_loads_and_nothing_is_logged(chromium, report, tmp_path):
    with _browser(chromium) as driver:
        driver.get(report.as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
        )
        assert images and all(complete and w > 0 and h > 0 for _, complete, w, h in images), images
        # the comparison's importance bars are drawn, each as wide as its number says (not collapsed)
        bars = driver.execute_script("return Array.from(document.querySelectorAll('.bar')).map(b => b.offsetWidth)")
        assert bars and all(w >= 1 for w in bars) and max(bars) == BAR_WIDTH, bars
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        # no request left the page: every resource it used was the document itself or a data: URI
        urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(u.startswith("data:") for u in urls), urls
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
    with Image.open(shot) as img:
        assert img.width > 0 and img.height > 0
    _keep(shot, "report-selenium.png")


def test_the_suggestions_are_drawn_with_their_pictures(chromium, report, tmp_path):
    """Each suggestion is on the page with its pictures decoded and shown (not folded away): the concept
    `hni suggest` flags, in its images, and an edge on its class's graph (a finding added here: no detector
    proposes an edge on this library). Every link to a class leads to its section."""
    inputs = gather(Workspace(report.parent / "ws"))
    drafted = draft(inputs)
    name = inputs.entries[0].name
    edge = Finding("layout", name, "edge 1->2 changes sign on flipped copies", "medium", "drop edge 1->2")
    page = tmp_path / "suggested.html"
    page.write_text(render(inputs, Suggestions(drafted.text, [*drafted.findings, edge])), encoding="utf-8")
    with _browser(chromium) as driver:
        driver.get(page.as_uri())
        section = driver.execute_script(
            "const s = document.getElementById('suggestions'); const r = s.getBoundingClientRect();"
            "return [getComputedStyle(s).display, r.width, r.height]"
        )
        assert section[0] != "none" and section[1] > 0 and section[2] > 0, section
        cards = driver.execute_script(
            "return Array.from(document.querySelectorAll('#suggestions article.suggestion')).map(a => "
            "[a.dataset.detector, a.getBoundingClientRect().height, Array.from(a.querySelectorAll('img')).map(i => "
            "[i.alt, i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width])])"
        )
        # replace slot 2 (the concept and its replacement), forbid it (the concept), drop the edge (the graph)
        assert [(d, len(imgs)) for d, _, imgs in cards] == [("spurious", 2), ("spurious", 1), ("layout", 1)], cards
        for _, height, imgs in cards:
            assert height > 0 and all(done and w > 0 and h > 0 and shown > 0 for _, done, w, h, shown in imgs), cards
        assert cards[0][2][0][0].endswith("in its images") and cards[2][2][0][0].endswith("edge 1->2 marked")
        targets = driver.execute_script(
            "return Array.from(document.querySelectorAll('#suggestions a')).map(a => "
            "[a.getAttribute('href'), document.querySelector(a.getAttribute('href')) !== null])"
        )
        assert targets and all(found for _, found in targets) and targets[0][0] == "#class-1", targets
        assert [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
        shot = tmp_path / "suggestions.png"
        driver.execute_script("document.getElementById('suggestions').scrollIntoView()")
        driver.save_screenshot(str(shot))
    _keep(shot, "report-suggestions.png")


def test_chromium_renders_the_report_from_the_command_line(chromium, report, tmp_path):
    """Without selenium: `chromium --headless --screenshot` and `--dump-dom` on the file."""
    shot = tmp_path / "shot.png"
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600"]
    subprocess.run(flags + [f"--screenshot={shot}", report.as_uri()], check=True, capture_output=True, timeout=120)
    with Image.open(shot) as img:
        assert img.size == (1280, 1600)
        assert len(img.convert("RGB").getcolors(1 << 20)) > 10  # something was drawn, not a blank page
    _keep(shot, "report-chromium.png")
    dom = subprocess.run(
        flags + ["--dump-dom", report.as_uri()], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count("<img") == report.read_text().count("<img") > 0
    assert 'id="accuracy"' in dom
    assert dom.count('class="card"') == report.read_text().count('class="card"') > 0  # the concept cards
    assert "Before and after run 0001-cafe0123" in dom and dom.count('class="bar ') > 0  # the comparison
    assert 'id="suggestions"' in dom and dom.count('<article class="suggestion') == 2  # the spurious concept
