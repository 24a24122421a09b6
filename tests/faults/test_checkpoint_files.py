"""A checkpoint file that is cut short or is not a checkpoint at all: one line that says which, in words a
user can act on, never torch's internal messages."""

from __future__ import annotations

import pytest
import torch
import torchvision

from hni_engine.network.models import ModelError, load_checkpoint


def test_a_truncated_or_foreign_file_is_named_for_what_it_is(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=2).state_dict(), whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:1000])
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    with pytest.raises(ModelError) as cut_error:
        load_checkpoint(cut, "resnet18", ["a", "b"])
    assert "cut short or damaged" in str(cut_error.value) and "internal" not in str(cut_error.value)
    with pytest.raises(ModelError, match=r"neither a torch\.save archive nor a pickle"):
        load_checkpoint(text, "resnet18", ["a", "b"])
