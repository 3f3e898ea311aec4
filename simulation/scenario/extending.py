"""``extends:``: merging a derived scenario into the one it starts from, guided by the schema.

A derived file states only what it changes, and what it states never silently means
something else:

- a block of settings (``market``, ``market.behaviour``...) merges key by key;
- a mapping of named things (``policies``) merges by name: a ``null`` drops an inherited
  entry, a new name adds one;
- a list of named things (``market.firms``) merges by name too: an inherited name changes
  that item only, a new name is added at the end, ``{name: X, remove: true}`` drops an item.
  When no file of the chain lists the items, the inherited list is the schema's default
  (the three default firms), so that naming one firm never replaces the market;
- a distribution given with another ``dist`` replaces the inherited one (the parameters of a
  beta mean nothing to a gamma);
- one way of saying a thing drops the inherited other way (a policy's ``level`` or
  ``allocation``, a gamma's ``mean`` and ``sd`` or ``shape`` and ``rate``: the schema's
  ``alternatives``);
- ``!replace`` before a list or a mapping (``firms: !replace [...]``) takes it as it stands,
  replacing the inherited value whole: the one way to reorder the firms or start afresh.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from simulation.errors import ScenarioError
from simulation.scenario.fields import Shape, field_shape, named_item, shape_of, tag_value
from simulation.scenario.schema import Scenario, without_alternatives

REPLACE_TAG = "!replace"


class ReplacingList(list):
    """A list that replaces the inherited list instead of merging into it (``!replace``)."""


class ReplacingMapping(dict):
    """A mapping that replaces the inherited one instead of merging into it (``!replace``)."""


Replacing = ReplacingList | ReplacingMapping


def replacing(value: list[Any] | Mapping[str, Any]) -> Replacing:
    """Mark a list or mapping of a derived scenario as replacing, as ``!replace`` does."""
    return ReplacingList(value) if isinstance(value, list) else ReplacingMapping(value)


def construct_replace(loader: yaml.SafeLoader, node: yaml.Node) -> Replacing:
    """Build the value of a ``!replace`` node (a YAML constructor).

    Raises:
        yaml.constructor.ConstructorError: the tag is on a plain value, which always
            replaces what it overrides anyway.
    """
    if isinstance(node, yaml.MappingNode):
        return ReplacingMapping(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return ReplacingList(loader.construct_sequence(node, deep=True))
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"{REPLACE_TAG} goes before a list or a mapping; a single value always replaces",
        node.start_mark,
    )


def plain(value: Any) -> Any:
    """A copy of ``value`` with every ``!replace`` marker taken off (plain lists and dicts)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return copy.deepcopy(value)


def merge_derived(
    base: Mapping[str, Any],
    derived: Mapping[str, Any],
    source: str,
    schema: type[BaseModel] = Scenario,
) -> dict[str, Any]:
    """Merge a derived file's settings into what it inherits (see the module's rules).

    Args:
        base: the inherited settings, already merged and free of markers.
        derived: the derived file's settings, ``!replace`` markers included.
        source: the derived file, for error messages.
        schema: the model both describe.

    Returns:
        The merged settings, free of markers.

    Raises:
        ScenarioError: an item of a named list without a name, a name given twice, or a
            removal of something that is not inherited.
    """
    return _merge_block(base, derived, shape_of(schema), source, "")


def _merge_block(
    base: Mapping[str, Any], derived: Mapping[str, Any], shape: Shape, source: str, where: str
) -> dict[str, Any]:
    """Merge two mappings holding the keys of ``shape`` (a block, or a mapping of names)."""
    merged = copy.deepcopy(dict(base))
    if shape.kind == "model" and shape.model is not None:
        merged = without_alternatives(shape.model, merged, derived)
    for key, value in derived.items():
        path = f"{where}.{key}" if where else str(key)
        inner = _key_shape(shape, key)
        if value is None and shape.kind == "mapping" and key not in merged:
            names = ", ".join(map(str, merged)) or "none"
            raise ScenarioError(
                f"{source}: {path}: null is not allowed: null drops an inherited entry, and "
                f"none is named {key!r} (inherited: {names})"
            )
        if value is None and isinstance(merged.get(key), dict):
            del merged[key]  # drops an inherited policy, or resets a block to its defaults
        elif key not in merged and shape.kind == "model" and _has_named_default(inner):
            merged[key] = _merge_value(_default_of(shape, key), value, inner, source, path)
        else:
            merged[key] = _merge_value(merged.get(key), value, inner, source, path)
    return merged


def _merge_value(inherited: Any, value: Any, shape: Shape | None, source: str, path: str) -> Any:
    """The merged value of one key."""
    if isinstance(value, Replacing) or shape is None:
        return plain(value)
    if isinstance(value, list) and isinstance(inherited, list) and named_item(shape):
        return _merge_named(inherited, value, shape, source, path)
    if isinstance(value, Mapping) and inherited is None and shape.kind in ("model", "mapping"):
        inherited = {}  # nothing inherited here, but named lists further down still merge
    if not (isinstance(value, Mapping) and isinstance(inherited, Mapping)):
        return plain(value)
    if shape.kind == "choice":
        tag = shape.tag
        if tag and value.get(tag, inherited.get(tag)) != inherited.get(tag):
            return plain(value)  # another distribution kind: the old parameters do not apply
        member = _member_shape(shape, inherited.get(tag or "")) or Shape("value", None)
        return _merge_block(inherited, value, member, source, path)
    return _merge_block(inherited, value, shape, source, path)


def _merge_named(
    inherited: list[Any], items: list[Any], shape: Shape, source: str, path: str
) -> list[Any]:
    """Merge a derived list of named items into the inherited list, by name."""
    assert shape.item is not None
    merged = copy.deepcopy(inherited)
    names = [item.get("name") if isinstance(item, Mapping) else None for item in merged]
    seen: set[str] = set()
    key = path.rsplit(".", 1)[-1]
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ScenarioError(
                f"{source}: {path}.{i}: {_short(item)} is not allowed: in a file that extends "
                f"another, each item needs a name: an inherited name "
                f"({', '.join(map(str, names))}) changes that item, a new name adds one; "
                f"write `{key}: {REPLACE_TAG} [...]` to replace the whole list"
            )
        if name in seen:
            raise ScenarioError(f"{source}: {path}: {name!r} is given twice; give each item once")
        seen.add(name)
        where = f"{path}.{name}"
        if "remove" in item:
            _check_removal(item, name, names, source, where)
            index = names.index(name)
            del merged[index], names[index]
        elif name in names:
            index = names.index(name)
            merged[index] = _merge_block(merged[index], item, shape.item, source, where)
        else:
            merged.append(_merge_block({}, item, shape.item, source, where))
            names.append(name)
    return merged


def _check_removal(
    item: Mapping[str, Any], name: str, names: list[Any], source: str, where: str
) -> None:
    if item["remove"] is not True or set(item) != {"name", "remove"}:
        raise ScenarioError(
            f"{source}: {where}: {_short(dict(item))} is not allowed: to drop an inherited "
            f"item write {{name: {name}, remove: true}} and nothing else"
        )
    if name not in names:
        raise ScenarioError(
            f"{source}: {where}.remove: true is not allowed: nothing named {name!r} is "
            f"inherited (inherited: {', '.join(map(str, names))})"
        )


def _key_shape(shape: Shape, key: Any) -> Shape | None:
    """The shape of one key of a block or of a mapping of names (``None`` if unknown)."""
    if shape.kind == "mapping":
        return shape.item
    if shape.kind == "model" and shape.model is not None:
        field = shape.model.model_fields.get(key)
        return field_shape(field) if field is not None else None
    return None


def _has_named_default(shape: Shape | None) -> bool:
    return shape is not None and named_item(shape) is not None


def _default_of(shape: Shape, key: str) -> list[Any]:
    """The schema default of a named list, as the settings a file would write for it."""
    assert shape.model is not None
    value = shape.model.model_fields[key].get_default(call_default_factory=True)
    return [item.model_dump(mode="python", exclude_unset=True) for item in value]


# --------------------------------------------------------------------------- overrides
def drop_alternatives(
    data: dict[str, Any], path: str, value: Any, schema: type[BaseModel] = Scenario
) -> None:
    """After ``path`` of full settings is set to ``value``, drop the other ways of saying it.

    A scenario's full settings (a model dump) carry a policy's ``level`` and the allocation
    it stands for; setting one of them (``policies.x.level``, ``policies.x.allocation.loyalty``)
    sets the other to null, as a file that gives one does. A null ``value`` drops nothing.
    Parts of ``path`` that the settings or the schema do not hold are left alone.
    """
    if value is None:
        return
    node: Any = data
    shape: Shape | None = shape_of(schema)
    for part in path.split("."):
        if shape is not None and shape.kind == "choice" and isinstance(node, Mapping):
            shape = _member_shape(shape, node.get(shape.tag or ""))
        if shape is None or not isinstance(node, dict | list):
            return
        if isinstance(node, dict) and shape.kind == "model" and shape.model is not None:
            cleared = without_alternatives(shape.model, node, {part: value})
            node.update({key: None for key in node if key not in cleared})
        inner = shape.item if shape.kind in ("list", "mapping") else _key_shape(shape, part)
        node, shape = _step(node, part), inner


def _member_shape(shape: Shape, tag: Any) -> Shape | None:
    """The shape of the member of a choice whose tag is ``tag``."""
    found = [m for m in shape.members if shape.tag and tag_value(m, shape.tag) == tag]
    return Shape("model", found[0], model=found[0]) if found else None


def _step(node: dict[str, Any] | list[Any], part: str) -> Any:
    """The child of a settings node: a key, a list position, or a list item by name."""
    if isinstance(node, dict):
        return node.get(part)
    if part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
        return node[int(part)]
    named = [item for item in node if isinstance(item, Mapping) and item.get("name") == part]
    return named[0] if named else None


def _short(value: Any) -> str:
    text = repr(plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- structure
def structure_changes(parent: Scenario, derived: Scenario) -> list[str]:
    """How a derived scenario's structure differs from its parent's, one phrase per change.

    Structure means which firms there are and in which order (the first is the focal firm),
    and which policies are compared (the first is the baseline of every comparison).
    """
    changes = _list_changes(
        "firms", [f.name for f in parent.market.firms], [f.name for f in derived.market.firms]
    )
    if parent.focal.name != derived.focal.name:
        changes.append(f"focal firm {derived.focal.name!r} (was {parent.focal.name!r})")
    changes += _list_changes("policies", list(parent.policies), list(derived.policies))
    old, new = next(iter(parent.policies)), next(iter(derived.policies))
    if old != new and (old in derived.policies or new in parent.policies):
        changes.append(f"baseline policy {new!r} (was {old!r})")  # not all policies replaced
    return changes


def _list_changes(what: str, old: list[str], new: list[str]) -> list[str]:
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    kept_old = [n for n in old if n in new]
    kept_new = [n for n in new if n in old]
    changes = []
    if added:
        changes.append(f"{what} added: {', '.join(added)}")
    if removed:
        changes.append(f"{what} removed: {', '.join(removed)}")
    if kept_old != kept_new:
        changes.append(f"{what} reordered: {', '.join(new)} (was {', '.join(old)})")
    return changes
