"""Which temperatures a plan gets is read from what each transform says it changes."""

from __future__ import annotations

import typing

import pytest

from hni_dsl import transforms as tf
from hni_engine.edit.resolve import plan_kind


def kinds() -> list[type]:
    union = typing.get_args(tf.Transform)[0]  # Annotated[Union[...], discriminator]
    return list(typing.get_args(union))


@pytest.mark.parametrize("kind", kinds())
def test_every_transform_says_what_it_changes(kind):
    assert kind.changes in ("nodes", "edges", "classes")


def test_plan_kind_follows_the_strongest_change():
    edge = tf.DropAllEdges(block=0, cls="a", edges=((1, 2),))
    node = tf.DropConcept(block=0, cls="a", slot=1, concept="a/x", origin="c1")
    define = tf.DefineClass(block=1, cls="n", parts=("a/x",), part_origins=("a.c1",), edges_like="a", edges=())
    assert plan_kind([edge]) == "edge" and plan_kind([]) == "edge"
    assert plan_kind([edge, node]) == "node"
    assert plan_kind([node, define, edge]) == "zeroshot"
