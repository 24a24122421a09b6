"""The smaller pieces of a concept's evidence: stability across seeds, error analysis, where it sits."""

from __future__ import annotations

import numpy as np
import pytest

from hni_engine.discovery.analysis import ImageAnalysis
from hni_engine.discovery.concepts import Concept
from hni_engine.discovery.errors import concept_errors, presence
from hni_engine.discovery.stability import compare_runs
from hni_engine.graphs.concept_cards import concept_card, place_summary, position_grid


def _analysis(features: np.ndarray) -> ImageAnalysis:
    s = len(features)
    return ImageAnalysis(features, np.full((s, 2), 0.5), np.ones((1, s)), np.zeros(2), np.zeros((1, 2)))


def _concept(key: str, anchor: list[float], threshold: float = 1.0) -> Concept:
    return Concept(key, np.array(anchor, np.float32), threshold, 1.0, 0.0, 0.0, 1)


def test_a_concept_found_again_is_stable_and_one_split_in_two_is_not() -> None:
    # Two images; patches near (0, 0), near (10, 0) and near (5, 5).
    rng = np.random.default_rng(0)
    analyses = [
        _analysis(np.concatenate([rng.normal(c, 0.1, (3, 2)) for c in ([0, 0], [10, 0], [5, 5])]).astype(np.float32))
        for _ in range(2)
    ]
    first = {"x": [_concept("a", [0, 0]), _concept("b", [10, 0]), _concept("c", [5, 5], 8.0)]}
    # The second run finds a and b again (slightly moved); where c was, it has two concepts that split its
    # patches with b's (c's wide threshold held both).
    second = {"x": [_concept("a2", [0.05, 0]), _concept("b2", [10, 0.05]), _concept("c2", [5, 6], 0.5)]}
    found = compare_runs(first, second, analyses, {"x": [0, 1]}, {"x": 0})["x"]
    assert [f.stable for f in found] == [True, True, False]
    assert found[0].jaccard == pytest.approx(1.0)
    assert compare_runs(first, {}, analyses, {"x": [0, 1]}, {"x": 0})["x"][0].jaccard == 0.0


def test_error_analysis_counts_accuracy_with_and_without_and_the_confusions() -> None:
    anchors = np.array([[0.0, 0.0], [10.0, 10.0]])
    images = [np.array([[0.1, 0.0]]), np.array([[0.0, 0.2], [10.0, 10.0]]), np.array([[5.0, 5.0]])]
    present = presence(images, anchors, np.array([0.5, 0.5]))
    assert present.tolist() == [[True, False], [True, True], [False, False]]
    labels, predicted = np.array([0, 0, 1]), np.array([0, 1, 1])
    first, second = concept_errors(present, labels, predicted, ["cat", "dog"])
    assert (first.accuracy_with, first.accuracy_without) == (0.5, 1.0)
    assert (first.images_with, first.images_without) == (2, 1)
    assert first.confusions == (("cat", "dog", 1),)
    assert (second.accuracy_with, second.images_with, second.confusions) == (0.0, 1, (("cat", "dog", 1),))
    none = concept_errors(np.zeros((3, 1), bool), labels, predicted, ["cat", "dog"])[0]
    assert none.accuracy_with is None and none.images_with == 0


def test_a_concept_pinned_to_a_corner_is_one_hot_cell_and_named_so() -> None:
    corner = np.full((30, 2), 0.05)
    grid = position_grid(corner)
    assert grid[0, 0] == 30 and grid.sum() == 30
    place = place_summary(corner, 0.02)
    assert place.text() == "top left (100%)"
    spread = np.random.default_rng(0).uniform(0, 1, (300, 2))
    assert place_summary(spread, 0.1).text() == "spread out"
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[:4, :4] = True
    card = concept_card("c/1", [(image, mask, "a.png")] * 2, corner, place, 3, 4)
    pixels = np.asarray(card)
    assert card.width > card.height > 0
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] < 60)).any()  # the red outline is drawn
