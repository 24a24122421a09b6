"""The typed, immutable syntax tree of an edit script.

Nodes are frozen pydantic models with a ``kind`` tag. Source positions (:class:`Span`) and layout
(:class:`Layout`, comments) are *trivia*: carried beside the meaning but equal to any other trivia, so
``parse(a) == parse(b)`` compares what two scripts say, not where they say it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AddConcept",
    "AddEdge",
    "ClassBlock",
    "ClassPoolRef",
    "ClassRef",
    "ClassSlotRef",
    "Comment",
    "ConceptRef",
    "DefineClass",
    "DropAllEdges",
    "DropConcept",
    "DropEdge",
    "EdgeSpec",
    "Edit",
    "ForbidConcept",
    "ForbidStatement",
    "ForbidTarget",
    "Layout",
    "Node",
    "OwnPoolRef",
    "ReplaceConcept",
    "Script",
    "ScriptTrivia",
    "Slot",
    "Span",
    "Statement",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Trivia(_Frozen):
    """Equal to every other trivia of the same type: positions and layout never change meaning."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self))

    def __hash__(self) -> int:
        return hash(type(self).__name__)


class Span(_Trivia):
    """1-based start line/column and end line/column (end exclusive) in the script text."""

    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0

    @property
    def length(self) -> int:
        """Characters to underline: the span's width on its first line (at least 1)."""
        if self.end_line == self.line:
            return max(1, self.end_column - self.column)
        return 1


NO_SPAN = Span()


class Comment(_Frozen):
    line: int
    text: str
    trailing: bool  # on the same line as code, after it


class ScriptTrivia(_Trivia):
    comments: tuple[Comment, ...] = ()
    blank_lines: frozenset[int] = frozenset()  # 1-based numbers of whitespace-only source lines


class Layout(_Trivia):
    inline: bool = False  # written as `class X: a; b` rather than an indented block


class Node(_Frozen):
    """A node of the syntax tree: the stages' tables (checker, formatter) are keyed by its type."""

    span: Span = Field(default=NO_SPAN, repr=False)


class ClassRef(Node):
    kind: Literal["class_ref"] = "class_ref"
    name: str


class Slot(Node):
    """A 1-based c-SCG slot number as written (`concept 2`, an edge endpoint)."""

    kind: Literal["slot"] = "slot"
    index: int


class EdgeSpec(Node):
    kind: Literal["edge"] = "edge"
    src: Slot
    dst: Slot
    both: bool = False  # `<->`: both directions


class OwnPoolRef(Node):
    """`pool[N]`: the N-th concept of the edited class's own pool."""

    kind: Literal["own_pool"] = "own_pool"
    index: int


class ClassPoolRef(Node):
    """`OTHER.pool[N]`."""

    kind: Literal["class_pool"] = "class_pool"
    owner: ClassRef
    index: int


class ClassSlotRef(Node):
    """`OTHER.cN`: the concept in slot N of another class's c-SCG."""

    kind: Literal["class_slot"] = "class_slot"
    owner: ClassRef
    slot: int


ConceptRef = Annotated[OwnPoolRef | ClassPoolRef | ClassSlotRef, Field(discriminator="kind")]


class ReplaceConcept(Node):
    kind: Literal["replace_concept"] = "replace_concept"
    slot: Slot
    target: ConceptRef


class AddConcept(Node):
    kind: Literal["add_concept"] = "add_concept"
    target: ConceptRef


class DropConcept(Node):
    kind: Literal["drop_concept"] = "drop_concept"
    slot: Slot


class AddEdge(Node):
    kind: Literal["add_edge"] = "add_edge"
    edge: EdgeSpec


class DropEdge(Node):
    kind: Literal["drop_edge"] = "drop_edge"
    edge: EdgeSpec


class DropAllEdges(Node):
    kind: Literal["drop_all_edges"] = "drop_all_edges"


# What `forbid` names: a slot of the edited class (`forbid concept N`) or any concept reference.
ForbidTarget = Annotated[Slot | OwnPoolRef | ClassPoolRef | ClassSlotRef, Field(discriminator="kind")]


class ForbidConcept(Node):
    """`forbid concept N` / `forbid REF`: the class must not rely on the concept at all, present or absent."""

    kind: Literal["forbid_concept"] = "forbid_concept"
    target: ForbidTarget


# The edits of a class block. An edit's `kind` is also the name of its grammar rule (`-> drop_edge`), whose
# children come in the order of its fields: the parser builds every edit with one generic rule.
Edit = Annotated[
    ReplaceConcept | AddConcept | DropConcept | AddEdge | DropEdge | DropAllEdges | ForbidConcept,
    Field(discriminator="kind"),
]


class ClassBlock(Node):
    kind: Literal["class"] = "class"
    cls: ClassRef
    edits: tuple[Edit, ...]
    layout: Layout = Layout()


class DefineClass(Node):
    kind: Literal["define"] = "define"
    cls: ClassRef
    parts: tuple[ConceptRef, ...]
    edges_like: ClassRef


class ForbidStatement(Node):
    """A `forbid` outside any class block: parsed so the checker can say which block it belongs in."""

    kind: Literal["forbid_statement"] = "forbid_statement"
    target: ForbidTarget


Statement = Annotated[ClassBlock | DefineClass | ForbidStatement, Field(discriminator="kind")]


class Script(_Frozen):
    kind: Literal["script"] = "script"
    statements: tuple[Statement, ...] = ()
    trivia: ScriptTrivia = ScriptTrivia()
