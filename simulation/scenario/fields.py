"""Reading the schema's annotations: which keys are blocks, lists, mappings or choices.

The scenario and experiment schemas are pydantic models. Merging a derived scenario into the
one it extends, and writing the key reference, both need to know what a key holds (a block of
settings, a list of named items, a mapping of named items, one of several distribution kinds,
a plain value) and which constraints apply. This module answers those questions from the
annotations alone, so that neither needs to know any particular field.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Shape:
    """What one key holds, with ``None`` and ``Annotated`` wrappers taken off.

    Attributes:
        kind: ``model`` (a block of settings), ``list`` or ``mapping`` (of ``item``),
            ``choice`` (one of several models told apart by ``tag``), or ``value``.
        annotation: the bare annotation.
        optional: whether ``null`` is allowed.
        constraints: the annotated constraints (``Ge``, ``MaxLen``... objects), outermost first.
        model: the model of a ``model`` key.
        item: the shape of each element of a ``list`` or value of a ``mapping``.
        members: the models of a ``choice``.
        tag: the field whose literal value tells the members of a ``choice`` apart.
    """

    kind: Literal["model", "list", "mapping", "choice", "value"]
    annotation: Any
    optional: bool = False
    constraints: tuple[Any, ...] = ()
    model: type[BaseModel] | None = None
    item: Shape | None = None
    members: tuple[type[BaseModel], ...] = ()
    tag: str | None = None


def shape_of(annotation: Any, constraints: tuple[Any, ...] = ()) -> Shape:
    """The shape of an annotation such as ``list[FirmSpec]`` or ``Probability | None``."""
    bare, optional, found = _unwrap(annotation)
    constraints = (*constraints, *found)
    origin = get_origin(bare)
    if is_model(bare):
        return Shape("model", bare, optional, constraints, model=bare)
    if origin is list:
        return Shape("list", bare, optional, constraints, item=shape_of(get_args(bare)[0]))
    if origin is dict:
        return Shape("mapping", bare, optional, constraints, item=shape_of(get_args(bare)[1]))
    members = tuple(a for a in get_args(bare) if is_model(a)) if _is_union(bare) else ()
    if len(members) > 1:
        tag = common_tag(members)
        return Shape("choice", bare, optional, constraints, members=members, tag=tag)
    return Shape("value", bare, optional, constraints)


def field_shape(field: FieldInfo) -> Shape:
    """The shape of a model field, with the field's own constraints."""
    return shape_of(field.annotation, tuple(field.metadata))


def is_model(annotation: Any) -> bool:
    """Whether an annotation is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def common_tag(members: tuple[type[BaseModel], ...]) -> str | None:
    """The field holding a different literal in every member of a union (its discriminator)."""
    first = members[0].model_fields
    for name in first:
        values = [_literal_values(m.model_fields.get(name)) for m in members]
        if all(values) and len({v for vs in values for v in vs}) == sum(map(len, values)):
            return name
    return None


def tag_value(model: type[BaseModel], tag: str) -> str:
    """The literal value of a choice member's tag field (``beta`` for ``Beta``)."""
    return str(_literal_values(model.model_fields[tag])[0])


def named_item(shape: Shape) -> type[BaseModel] | None:
    """The item model of a list whose items are told apart by a required ``name``."""
    if shape.kind != "list" or shape.item is None or shape.item.model is None:
        return None
    name = shape.item.model.model_fields.get("name")
    return shape.item.model if name is not None and name.is_required() else None


def literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The values a ``Literal`` annotation allows (empty for anything else)."""
    bare, _, _ = _unwrap(annotation)
    return get_args(bare) if get_origin(bare) is Literal else ()


def _literal_values(field: FieldInfo | None) -> tuple[Any, ...]:
    return literal_choices(field.annotation) if field is not None else ()


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, UnionType)


def _unwrap(annotation: Any) -> tuple[Any, bool, tuple[Any, ...]]:
    """Take ``Annotated`` and ``None`` off an annotation.

    Returns:
        The bare annotation, whether ``None`` was allowed, and the constraints found.
    """
    optional = False
    found: list[Any] = []
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extras = get_args(annotation)
            for extra in extras:
                found.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
            continue
        if _is_union(annotation) and NoneType in get_args(annotation):
            optional = True
            rest = tuple(a for a in get_args(annotation) if a is not NoneType)
            annotation = rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007
            continue
        return annotation, optional, tuple(found)
