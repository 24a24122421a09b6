"""A scenario: a complete world of vocabulary, layouts, classes and biasing rules, checked as a whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

from hni_engine.data.synthetic.spec import (
    ClassDef,
    Composition,
    ContextRule,
    Layout,
    Part,
    PoseRule,
    Split,
    WorldConfig,
    bad_value,
    check_name,
)
from hni_engine.data.synthetic.vocabulary import VOCABULARY

__all__ = ["Scenario"]

_ONE_POSE = PoseRule()  # the default pose rule, one frozen value shared by every scenario that takes it


@dataclass(frozen=True)
class Scenario:
    """A complete, validated world: vocabulary, layouts, classes and the rules that bias the data."""

    name: str
    description: str
    config: WorldConfig
    layouts: tuple[Layout, ...]
    classes: tuple[ClassDef, ...]
    pose: PoseRule = _ONE_POSE
    context: ContextRule | None = None
    compositions: tuple[Composition, ...] = ()
    vocabulary: tuple[Part, ...] = VOCABULARY

    def __post_init__(self) -> None:
        check_name("scenario name", self.name)
        self._check_unique("part", [p.name for p in self.vocabulary])
        self._check_unique("layout", [layout.name for layout in self.layouts])
        self._check_unique("class", [c.name for c in self.classes])
        parts, layouts = self.parts_by_name, self.layouts_by_name
        for c in self.classes:
            unknown = [p for p in c.parts if p not in parts]
            if unknown:
                raise bad_value(f"class {c.name!r}: parts", "names from the vocabulary", unknown)
            if c.layout not in layouts:
                raise bad_value(f"class {c.name!r}: layout", f"one of {sorted(layouts)}", c.layout)
            if len(layouts[c.layout].slots) != len(c.parts):
                raise bad_value(
                    f"class {c.name!r}: number of parts",
                    f"the {len(layouts[c.layout].slots)} slots of layout {c.layout!r}",
                    len(c.parts),
                )
        for cls in self.pose.train:
            self._check_class("pose rule: train class", cls)
        if self.context is not None:
            used = {p for c in self.classes for p in c.parts}
            for cls, obj in self.context.objects.items():
                self._check_class("context rule: class", cls)
                if obj not in parts or obj in used:
                    raise bad_value(f"context object of class {cls!r}", "a vocabulary part that no class uses", obj)
        self._check_compositions()
        if not self.distractors:
            raise ValueError(f"scenario {self.name!r}: the vocabulary has no part left over for clutter")

    def _check_unique(self, what: str, names: list[str]) -> None:
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise bad_value(f"{what} names", "unique", duplicates)

    def _check_class(self, what: str, name: str) -> None:
        if name not in self.classes_by_name:
            raise bad_value(what, f"one of {sorted(self.classes_by_name)}", name)

    def _check_compositions(self) -> None:
        classes = self.classes_by_name
        composed = {comp.name for comp in self.compositions}
        for c in self.classes:
            if not c.seen and c.name not in composed:
                raise ValueError(f"unseen class {c.name!r} has no composition")
        for comp in self.compositions:
            self._check_class("composition", comp.name)
            target = classes[comp.name]
            if target.seen:
                raise bad_value(f"composed class {comp.name!r}", "unseen (seen=False)", target.seen)
            for source, index in (*comp.parts, (comp.layout_from, 1)):
                self._check_class(f"composition of {comp.name!r}: source class", source)
                if not classes[source].seen:
                    raise bad_value(f"composition of {comp.name!r}: source class", "a seen class", source)
                if not 1 <= index <= len(classes[source].parts):
                    raise bad_value(
                        f"composition of {comp.name!r}: part index of {source!r}",
                        f"in [1, {len(classes[source].parts)}]",
                        index,
                    )
            expected = tuple(classes[source].parts[index - 1] for source, index in comp.parts)
            if target.parts != expected or target.layout != classes[comp.layout_from].layout:
                raise ValueError(
                    f"class {comp.name!r} ({target.parts}, layout {target.layout!r}) does not match "
                    f"its composition ({expected}, layout {classes[comp.layout_from].layout!r})"
                )
            for other in self.classes:
                if other.seen and (set(other.parts), other.layout) == (set(target.parts), target.layout):
                    raise ValueError(f"composed class {comp.name!r} is identical to seen class {other.name!r}")

    # Cached lookups: render() consults them for every image.
    @cached_property
    def parts_by_name(self) -> Mapping[str, Part]:
        return MappingProxyType({p.name: p for p in self.vocabulary})

    @cached_property
    def layouts_by_name(self) -> Mapping[str, Layout]:
        return MappingProxyType({layout.name: layout for layout in self.layouts})

    @cached_property
    def classes_by_name(self) -> Mapping[str, ClassDef]:
        return MappingProxyType({c.name: c for c in self.classes})

    @cached_property
    def distractors(self) -> tuple[str, ...]:
        """Clutter comes from parts that neither any class nor any context uses, so it carries no label."""
        taken = {p for c in self.classes for p in c.parts}
        if self.context is not None:
            taken |= set(self.context.objects.values())
        return tuple(sorted(p.name for p in self.vocabulary if p.name not in taken))

    def class_names(self, split: Split) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes if split is Split.TEST or c.seen)
