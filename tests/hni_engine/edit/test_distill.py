"""Partial knowledge distillation: the combined soft label (HNI eq. 3), the loss, the grown output layer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hni_engine.edit.distill import (
    TEMPERATURES,
    Temperatures,
    combined_soft_label,
    distillation_loss,
    grow_classifier,
    output_layer,
)
from hni_engine.network.models import build_model


def _softmax(values, t):
    e = [math.exp(v / t) for v in values]
    return [x / sum(e) for x in e]


def test_combined_soft_label_matches_a_hand_computed_case():
    # Four classes; the GRN covers classes 1 and 3 (S_I), in the order (3, 1).
    t = Temperatures(student=1.0, teacher_grn=1.5, teacher_original=1.0)
    original = [2.0, 1.0, 0.0, -1.0]
    grn = [0.5, 2.0]  # scores of class 3, then class 1
    p2 = _softmax(original, 1.0)
    p1 = _softmax(grn, 1.5)
    p_r = p2[1] + p2[3]
    expected = [p2[0], p_r * p1[1], p2[2], p_r * p1[0]]
    got = combined_soft_label(torch.tensor([original]), torch.tensor([grn]), [3, 1], t)[0]
    assert got.tolist() == pytest.approx(expected, abs=1e-6)
    assert float(got.sum()) == pytest.approx(1.0, abs=1e-6)  # still a distribution
    # The classes outside S_I keep exactly teacher 2's probabilities.
    assert got[0].item() == pytest.approx(p2[0]) and got[2].item() == pytest.approx(p2[2])


def test_images_without_graphs_keep_the_original_network_label():
    t = TEMPERATURES["node"]
    original = torch.tensor([[1.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    grn = torch.tensor([[5.0, -5.0], [5.0, -5.0]])
    got = combined_soft_label(original, grn, [0, 1], t, has_graphs=torch.tensor([True, False]))
    assert torch.allclose(got[1], torch.softmax(original[1], 0))
    assert not torch.allclose(got[0], torch.softmax(original[0], 0))


def test_a_class_the_network_lacks_gets_its_mass_from_the_grn_only():
    t = TEMPERATURES["zeroshot"]
    original = torch.tensor([[1.0, 0.5, float("-inf")]])  # class 2 is new: no output in teacher 2
    grn = torch.tensor([[0.0, 2.0]])  # the GRN covers classes 0 and 2
    got = combined_soft_label(original, grn, [0, 2], t)[0]
    p2 = torch.softmax(original[0] / t.teacher_original, 0)
    p1 = torch.softmax(grn[0] / t.teacher_grn, 0)
    assert got[2].item() == pytest.approx(float(p2[0] * p1[1]))
    assert got[1].item() == pytest.approx(float(p2[1]))


def test_distillation_loss_is_alpha_soft_plus_beta_hard():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    soft = torch.tensor([[0.2, 0.5, 0.3]])
    labels = torch.tensor([1])
    log_q = torch.log_softmax(logits / 2.0, 1)
    soft_term = -(soft * log_q).sum()
    hard_term = nn.functional.cross_entropy(logits, labels)
    got = distillation_loss(logits, soft, labels, alpha=2.5, beta=1.0, t_student=2.0)
    assert float(got) == pytest.approx(float(2.5 * soft_term + hard_term), rel=1e-6)
    only_soft = distillation_loss(logits, soft, None, alpha=2.5, beta=1.0, t_student=2.0)
    assert float(only_soft) == pytest.approx(float(2.5 * soft_term), rel=1e-6)


def test_images_labelled_minus_one_take_the_soft_term_only():
    """Rotated copies have the teachers' labels and no ground truth: -1 leaves them out of the hard term."""
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    soft = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    log_q = torch.log_softmax(logits, 1)
    soft_term = -(soft * log_q).sum(1).mean()
    hard_term = nn.functional.cross_entropy(logits[:1], torch.tensor([1]))
    got = distillation_loss(logits, soft, torch.tensor([1, -1]), alpha=2.5, beta=1.0, t_student=1.0)
    assert float(got) == pytest.approx(float(2.5 * soft_term + hard_term), rel=1e-6)
    none_known = distillation_loss(logits, soft, torch.tensor([-1, -1]), alpha=2.5, beta=1.0, t_student=1.0)
    assert float(none_known) == pytest.approx(float(2.5 * soft_term), rel=1e-6)


def test_paper_temperatures():
    assert TEMPERATURES["node"] == Temperatures(1.0, 1.5, 1.0)
    assert (TEMPERATURES["edge"].student, TEMPERATURES["edge"].teacher_grn) == (2.0, 2.0)
    assert (TEMPERATURES["zeroshot"].student, TEMPERATURES["zeroshot"].teacher_grn) == (1.5, 1.5)


def test_grown_output_layer_leaves_the_old_logits_unchanged():
    torch.manual_seed(0)
    model = build_model("resnet18", 5).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        grow_classifier(model, 2)
        after = model(x)
    assert after.shape == (3, 7)
    assert torch.allclose(after[:, :5], before, atol=1e-6)
    # The new classes start at logit 0 (weights and bias zero): no preference until they are taught.
    assert float(after[:, 5:].abs().max()) == 0.0
    assert output_layer(model)[2].out_features == 7


def test_grow_by_zero_is_a_no_op_and_a_model_without_linear_layer_is_refused():
    model = build_model("resnet18", 3)
    assert grow_classifier(model, 0) is model
    with pytest.raises(ValueError, match="no linear output layer"):
        grow_classifier(nn.Sequential(nn.Conv2d(3, 3, 1)), 1)


def test_erase_replaces_only_the_masked_pixels_of_drawn_images():
    from hni_engine.edit.distill import erase

    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8) * 0.5 + 2.0
    masks = torch.zeros(5, 8, 8, dtype=torch.bool)
    masks[3, :4, :4] = True  # image 3 of the set has something to erase; image 1 has nothing
    rows = torch.tensor([3, 1])
    out = erase(x, masks, rows, 1.0, torch.Generator().manual_seed(0))
    assert not torch.equal(out[0, :, :4, :4], x[0, :, :4, :4])
    assert torch.equal(out[0, :, 4:, :], x[0, :, 4:, :]) and torch.equal(out[1], x[1])
    # The fill has the statistics of the image outside the erased region (not a flat silhouette).
    filled = out[0, :, :4, :4]
    assert float(filled.std()) > 0.1 and abs(float(filled.mean()) - 2.0) < 0.5
    never = erase(x, masks, rows, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(never, x)


def test_transplant_pastes_another_class_masked_pixels_and_never_its_own():
    from hni_engine.edit.distill import transplant

    x_all = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 6, 6).clone()  # image i is all i
    labels = torch.tensor([0, 0, 1, 2])
    masks = torch.zeros(4, 6, 6, dtype=torch.bool)
    masks[1, :2, :2] = True  # the only donor: image 1, class 0
    rows = torch.tensor([0, 2, 3])

    def fetch(r: torch.Tensor) -> torch.Tensor:
        return x_all[r]

    out = transplant(x_all[rows].clone(), fetch, masks, rows, labels, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out[0], x_all[0])  # same class as the donor: untouched
    for b in (1, 2):  # other classes receive image 1's pixels inside its mask, nothing else changes
        assert torch.equal(out[b, :, :2, :2], torch.ones(3, 2, 2))
        rest = out[b].clone()
        rest[:, :2, :2] = x_all[rows[b], :, :2, :2]
        assert torch.equal(rest, x_all[rows[b]])
    assert torch.equal(transplant(x_all[rows], fetch, masks, rows, labels, 0.0, torch.Generator()), x_all[rows])
    empty = torch.zeros_like(masks)
    assert torch.equal(transplant(x_all[rows], fetch, empty, rows, labels, 1.0, torch.Generator()), x_all[rows])


def test_compose_pastes_the_part_at_the_centre_on_the_base_without_its_objects():
    import numpy as np

    from hni_engine.edit.zeroshot import background_canvas, compose

    base = np.full((16, 16, 3), 100, np.uint8)
    base[:, 8:] = 140  # a background with two halves
    base[1:3, 1:4] = 250  # an object of the base's class, under half of its 4x4 cell
    source = np.zeros((16, 16, 3), np.uint8)
    source[10:12, 10:12] = [255, 0, 0]
    part = np.zeros((16, 16), bool)
    part[10:12, 10:12] = True
    # Paste the 2x2 red part centred on pixel (row 7.5, column 4.5): rows 7-8, columns 4-5.
    out = compose(base, [(0, (5.0 / 16, 8.0 / 16))], [(source, part)])
    assert (out[7:9, 4:6] == [255, 0, 0]).all()
    assert (out[1:3, 1:4] == 100).all()  # the base's object is gone, its background stays
    assert (out[:, :3] == 100).all() and (out[:, 13:] == 140).all()
    canvas = background_canvas(base)
    assert canvas.dtype == np.uint8 and canvas.shape == base.shape
    assert (np.diff(canvas[:, :, 0].astype(int), axis=1) >= 0).all()  # a smooth step between the halves
