"""The key reference: every scenario and experiment key, read from the schema itself.

For each key: its dotted path, type, unit, default, allowed range, meaning and source. Types,
defaults and ranges come from the pydantic models (annotations, ``Field`` constraints,
``Literal`` choices, nested models, discriminated unions); meanings from ``description`` or a
block's docstring; units and sources from ``json_schema_extra={"unit": ..., "source": ...}``
when a field has them (left blank otherwise). :func:`reference_markdown` turns the models into
``docs/scenario-reference.md`` (a pure function; ``python -m simulation.scenario.reference``
writes the file), and ``relsim keys PATH`` prints the part under a path with
:func:`select_keys` and :func:`keys_table`.
"""

from __future__ import annotations

import difflib
import inspect
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.table import Table

from simulation.errors import UserError
from simulation.scenario.fields import (
    Shape,
    field_shape,
    literal_choices,
    named_item,
    shape_of,
    tag_value,
)
from simulation.scenario.schema import Scenario

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "docs" / "scenario-reference.md"
REGENERATE = "python -m simulation.scenario.reference"
DISTRIBUTIONS = "distributions"
_NOUNS = {"dist": "distribution"}  # what a block told apart by this tag is called
_SCALARS = {int: "integer", float: "number", str: "text", bool: "true/false", Any: "any"}
COLUMNS = ("key", "type", "unit", "default", "allowed", "meaning", "source")


@dataclass(frozen=True)
class Key:
    """One line of the reference.

    Attributes:
        path: dotted path; ``<name>`` stands for a firm's or policy's name, ``<n>`` for a
            position in a list.
        type: what the key holds, in words.
        unit: its unit, from the field's ``unit`` metadata.
        default: its default as a file would write it (``required`` when there is none).
        allowed: the allowed range or choices.
        meaning: what it means.
        source: where its default comes from, from the field's ``source`` metadata.
        parent: the path of the block it belongs to (empty at the top level).
        block: whether it is a block of further keys (listed after it).
        details: a block's whole description (its model's docstring), for its section.
    """

    path: str
    type: str
    unit: str
    default: str
    allowed: str
    meaning: str
    source: str
    parent: str = ""
    block: bool = False
    details: str = ""

    def cells(self) -> tuple[str, ...]:
        """The key's seven columns, in the order of :data:`COLUMNS`."""
        return (
            self.path,
            self.type,
            self.unit,
            self.default,
            self.allowed,
            self.meaning,
            self.source,
        )


# --------------------------------------------------------------------------- collecting
def collect_keys(
    model: type[BaseModel], prefix: str = "", instance: Any = None, parent: str | None = None
) -> list[Key]:
    """Every key of ``model`` and of the blocks inside it, depth first, in schema order.

    Args:
        model: the pydantic model.
        prefix: the path of the block (empty at the top level).
        instance: the block's default value, whose values are the keys' defaults (a
            nested default such as ``Contact(unit_cost=0.10)`` overrides the model's own).
        parent: the block the keys are listed under (default: ``prefix``; the items of a
            list or mapping are listed under it).
    """
    keys: list[Key] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        shape = field_shape(field)
        required, default = _default(field, instance, name)
        owner = prefix if parent is None else parent
        keys.append(_key(path, owner, field, shape, "required" if required else default))
        keys += _inner_keys(path, shape, None if required else default)
    return keys


def distribution_keys(model: type[BaseModel] = Scenario) -> list[Key]:
    """The keys of each kind of every tagged block in ``model`` (the distributions).

    Their paths start with ``distributions.<kind>``; in a file they go under the key that
    holds the distribution (``market.customer.satisfaction.mean``).
    """
    keys: list[Key] = []
    for shape in _choices(model):
        assert shape.tag is not None
        for member in shape.members:
            kind = tag_value(member, shape.tag)
            path = f"{DISTRIBUTIONS}.{kind}"
            doc = _doc(member)
            keys.append(Key(path, "block", "", "", "", doc, "", DISTRIBUTIONS, block=True))
            keys += [k for k in collect_keys(member, path) if k.path != f"{path}.{shape.tag}"]
    return keys


def _inner_keys(path: str, shape: Shape, default: Any) -> list[Key]:
    if shape.kind == "model" and shape.model is not None:
        return collect_keys(shape.model, path, default if isinstance(default, BaseModel) else None)
    item = shape.item
    if shape.kind in ("list", "mapping") and item is not None and item.model is not None:
        placeholder = "<n>" if shape.kind == "list" and named_item(shape) is None else "<name>"
        return collect_keys(item.model, f"{path}.{placeholder}", parent=path)
    return []


def _key(path: str, parent: str, field: FieldInfo, shape: Shape, default: Any) -> Key:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    inner = shape.model or (shape.item.model if shape.item is not None else None)
    return Key(
        path=path,
        type=type_text(shape),
        unit=str(extra.get("unit", "")),
        default="" if shape.kind == "model" and default is not None else _value_text(default),
        allowed=allowed_text(shape),
        meaning=_clean(field.description or _doc(inner)),
        source=str(extra.get("source", "")),
        parent=parent,
        block=_is_block(shape),
        details=_doc(inner, whole=True),
    )


def _is_block(shape: Shape) -> bool:
    inner = shape.item.model if shape.item is not None else None
    return shape.model is not None or (shape.kind in ("list", "mapping") and inner is not None)


def _default(field: FieldInfo, instance: Any, name: str) -> tuple[bool, Any]:
    """Whether the key is required and, if not, its default."""
    if instance is not None:
        return False, getattr(instance, name)
    if field.is_required():
        return True, None
    return False, field.get_default(call_default_factory=True)


def _choices(model: type[BaseModel]) -> list[Shape]:
    """The distinct tagged unions (choices) anywhere in ``model``."""
    found: list[Shape] = []
    seen: set[type[BaseModel]] = set()

    def visit(shape: Shape) -> None:
        if shape.kind == "choice" and shape.tag and shape.members not in [s.members for s in found]:
            found.append(shape)
        inner = shape.model or (shape.item.model if shape.item is not None else None)
        if inner is not None and inner not in seen:
            seen.add(inner)
            for field in inner.model_fields.values():
                visit(field_shape(field))

    visit(shape_of(model))
    return found


# --------------------------------------------------------------------------- wording
def type_text(shape: Shape) -> str:
    """What a key holds, in words (``number``, ``list of blocks``, ``distribution``...)."""
    text = _bare_type(shape)
    return f"{text} or null" if shape.optional else text


def _bare_type(shape: Shape) -> str:
    if shape.kind == "model":
        return "block"
    if shape.kind == "choice":
        return _NOUNS.get(shape.tag or "", "one of several blocks")
    if shape.kind in ("list", "mapping") and shape.item is not None:
        item = "blocks" if shape.item.model is not None else type_text(shape.item)
        if shape.kind == "list":
            return f"list of {item}" + (", by name" if named_item(shape) else "")
        return f"mapping of names to {item}"
    annotation = shape.annotation
    if literal_choices(annotation):
        return "choice"
    if get_origin(annotation) is tuple:
        return "[" + ", ".join(type_text(shape_of(a)) for a in get_args(annotation)) + "]"
    if args := get_args(annotation):  # a union of plain types
        return " or ".join(type_text(shape_of(a)) for a in args)
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def allowed_text(shape: Shape) -> str:
    """The allowed range (``0 ≤ x ≤ 1``), length, pattern or choices of a key."""
    if shape.kind == "choice" and shape.tag:
        kinds = ", ".join(tag_value(m, shape.tag) for m in shape.members)
        return f"{shape.tag}: {kinds} (see {DISTRIBUTIONS})"
    if choices := literal_choices(shape.annotation):
        return ", ".join(_value_text(c) for c in choices)
    found = {}
    for constraint in shape.constraints:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            if getattr(constraint, name, None) is not None:
                found[name] = getattr(constraint, name)
    parts = [_bounds(found), _lengths(shape, found)]
    if "pattern" in found:
        parts.append(f"matching {found['pattern']}")
    return "; ".join(p for p in parts if p)


def _bounds(found: dict[str, Any]) -> str:
    """``0 ≤ x ≤ 1``, ``x > 0``, ``x < 2^63``... from the ge/gt/le/lt constraints."""
    low = next(
        ((_number(found[k]), op) for k, op in (("ge", "≤"), ("gt", "<")) if k in found), None
    )
    high = next(
        ((op, _number(found[k])) for k, op in (("le", "≤"), ("lt", "<")) if k in found), None
    )
    if low and high:
        return f"{low[0]} {low[1]} x {high[0]} {high[1]}"
    if low:
        return f"x {'≥' if low[1] == '≤' else '>'} {low[0]}"
    return f"x {high[0]} {high[1]}" if high else ""


def _lengths(shape: Shape, found: dict[str, Any]) -> str:
    what = "items" if shape.kind in ("list", "mapping") else "characters"
    low, high = found.get("min_length"), found.get("max_length")
    if low is not None and high is not None:
        return f"{low} to {high} {what}"
    if high is not None:
        return f"at most {high} {what}"
    if low is not None:
        return "not empty" if low == 1 else f"at least {low} {what}"
    return ""


def _number(value: Any) -> str:
    """A bound in words: thousands separated, powers of two as such, ``inf`` for infinity."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int) and value > 2**32 and value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    if isinstance(value, int) and value > 2**32 and value & (value + 1) == 0:
        return f"2^{value.bit_length()} - 1"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return repr(float(value))


def _value_text(value: Any) -> str:
    """A default as a file would write it (lists of named blocks as their names)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, BaseModel):
        return _block_text(value)
    if isinstance(value, dict):
        items = (
            f"{k} {_block_text(v)}" if isinstance(v, BaseModel) else f"{k}: {_value_text(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if value == "":
        return '""'
    return str(value)


def _block_text(block: BaseModel) -> str:
    """A block by its explicitly set plain values: ``Rival A (price 48, quality 0.68)``."""
    fields = type(block).model_fields
    set_values = {
        k: getattr(block, k)
        for k in fields
        if k in block.model_fields_set and not isinstance(getattr(block, k), BaseModel)
    }
    name = set_values.pop("name", None)
    tag = next((k for k in set_values if literal_choices(fields[k].annotation)), None)
    if tag is not None and len(literal_choices(fields[tag].annotation)) == 1:
        kind = set_values.pop(tag)
        inner = ", ".join(f"{k}={_value_text(v)}" for k, v in set_values.items())
        return f"{kind}({inner})"
    inner = ", ".join(f"{k} {_value_text(v)}" for k, v in set_values.items())
    if name is None:
        return f"({inner})" if inner else "(defaults)"
    return f"{name} ({inner})" if inner else str(name)


def _doc(model: type[BaseModel] | None, *, whole: bool = False) -> str:
    """The first paragraph of a model's docstring (or all of it), on one line."""
    text = inspect.cleandoc(model.__doc__ or "") if model is not None else ""
    return _clean(text if whole else text.split("\n\n", 1)[0])


def _clean(text: str) -> str:
    """One line, with reStructuredText's double backquotes as Markdown's single ones."""
    return " ".join(text.replace("``", "`").split())


# --------------------------------------------------------------------------- Markdown
INTRO = f"""\
# Scenario and experiment keys

Generated from the schema by `{REGENERATE}`; do not edit by hand: a test
fails when this file is out of date. `relsim keys PATH` prints the part under a path, for
example `relsim keys market.behaviour`; `relsim keys --experiment PATH` does the same for
experiment files.

Paths are dotted as in `--set` and in experiment factors. `<name>` stands for a firm's or a
policy's name (`market.firms.Rival A.price`, `policies.balanced.budget`), `<n>` for a
position in a list, counted from 0. A **block** holds the keys listed under it. Units and
sources are given where the schema states them; a blank cell means none is stated.
A block given in part starts from the defaults listed here for its keys (a firm's
`strategy: {{budget: 5000}}` keeps the level `reactive`); a distribution given with another
`dist` replaces the default whole, and one way of saying a thing drops the other (a policy's
`level` or `allocation`, a gamma's `mean` and `sd` or `shape` and `rate`).
In a file that `extends:` another, blocks merge key by key and firms and policies by name
(`!replace` replaces a list or block whole): see the README, "Scenario files".
"""


def reference_markdown(
    scenario: type[BaseModel] = Scenario, experiment: type[BaseModel] | None = None
) -> str:
    """The key reference as Markdown: scenario keys, distributions, experiment keys.

    Args:
        scenario: the scenario schema.
        experiment: the experiment file schema (default: :class:`ExperimentSpec`).
    """
    experiment = experiment or _experiment_schema()
    parts = [INTRO, "## Scenario files\n", *_sections(collect_keys(scenario), "Scenario")]
    if distributions := distribution_keys(scenario):
        parts += [
            "## Distributions\n",
            "A key of type *distribution* takes one of these blocks, for example "
            "`{dist: beta, mean: 0.3, sd: 0.1}`; one draw per customer. A single parameter "
            "is set or varied under the key (`market.customer.satisfaction.mean`). In a file "
            "that extends another, giving another `dist` replaces the inherited distribution "
            "whole.\n",
            *_sections(distributions, None),
        ]
    parts += ["## Experiment files\n", *_sections(collect_keys(experiment), "Experiment")]
    return "\n".join(parts).rstrip("\n") + "\n"


def _sections(keys: list[Key], top: str | None) -> list[str]:
    """One section per block: its meaning, then a table of the keys directly inside it."""
    sections = []
    if top is not None:
        sections.append(_section(f"{top} file: top level", "", [k for k in keys if not k.parent]))
    for block in (k for k in keys if k.block):
        inside = [k for k in keys if k.parent == block.path]
        if inside:
            sections.append(_section(f"`{block.path}`", block.details or block.meaning, inside))
    return sections


def _section(title: str, meaning: str, keys: list[Key]) -> str:
    lines = [f"### {title}\n"]
    if meaning:
        lines.append(f"{meaning}\n")
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for key in keys:
        path, *rest = key.cells()
        cells = [f"`{path}`" + (" (block)" if key.block else ""), *rest]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- relsim keys
def select_keys(path: str | None, *, experiment: bool = False) -> list[Key]:
    """The keys at and under a dotted path, for ``relsim keys``.

    Firm and policy names match ``<name>`` (``market.firms.Rival A`` finds the firm keys);
    a path below a distribution (``market.customer.satisfaction.mean``) finds the
    distribution and that parameter of each kind.

    Raises:
        UserError: an unknown path, with the closest valid paths.
    """
    keys = collect_keys(_experiment_schema()) if experiment else _scenario_keys()
    if not path:
        return keys
    query = path.strip().split(".")
    found = [k for k in keys if _under(k.path.split("."), query)]
    if found:
        return found
    if found := _distribution_parameter(keys, query):
        return found
    raise UserError(_unknown(path, query, keys, experiment))


def _scenario_keys() -> list[Key]:
    return collect_keys(Scenario) + distribution_keys(Scenario)


def _under(parts: list[str], query: list[str]) -> bool:
    if len(parts) < len(query):
        return False
    return all(
        p == q or (p.startswith("<") and p.endswith(">"))
        for p, q in zip(parts[: len(query)], query, strict=True)
    )


def _distribution_parameter(keys: list[Key], query: list[str]) -> list[Key]:
    holder = [k for k in keys if k.type.startswith(_NOUNS["dist"]) and _exact(k, query[:-1])]
    params = [
        k
        for k in keys
        if k.parent.startswith(f"{DISTRIBUTIONS}.") and k.path.endswith(f".{query[-1]}")
    ]
    return holder + params if holder and params else []


def _exact(key: Key, query: list[str]) -> bool:
    parts = key.path.split(".")
    return len(parts) == len(query) and _under(parts, query)


def _unknown(path: str, query: list[str], keys: list[Key], experiment: bool) -> str:
    """One line: the path is unknown, the closest valid paths, and where else it exists."""
    what = "an experiment" if experiment else "a scenario"
    candidates = list(dict.fromkeys(_instantiate(k.path, query) for k in keys))
    close = difflib.get_close_matches(path, candidates, n=3, cutoff=0.6)
    if close:
        hint = f"closest: {', '.join(close)}"
    else:
        top = ", ".join(k.path for k in keys if not k.parent)
        hint = f"top-level keys: {top}"
    other = _scenario_keys() if experiment else collect_keys(_experiment_schema())
    if any(_under(k.path.split("."), query) for k in other):
        flag = "relsim keys" if experiment else "relsim keys --experiment"
        hint += f"; it is {'a scenario' if experiment else 'an experiment'} key: {flag} {path}"
    return f"keys: {path!r} is not {what} key; {hint}"


def _instantiate(path: str, query: list[str]) -> str:
    """A key's path with its ``<name>`` parts filled in from the query, for suggestions."""
    parts = path.split(".")
    return ".".join(
        query[i] if p.startswith("<") and i < len(query) else p for i, p in enumerate(parts)
    )


def keys_table(keys: list[Key], title: str) -> Table:
    """A rich table of keys (blocks in bold), for the terminal."""
    table = Table(title=title, show_lines=False, expand=False)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for key in keys:
        table.add_row(*key.cells(), style="bold" if key.block else None)
    return table


def _experiment_schema() -> type[BaseModel]:
    from simulation.experiments.spec import ExperimentSpec

    return ExperimentSpec


# --------------------------------------------------------------------------- writing
def write_reference(path: Path = REFERENCE_PATH) -> Path:
    """Write the key reference to ``path`` (by default ``docs/scenario-reference.md``)."""
    path.write_text(reference_markdown(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m simulation.scenario.reference [FILE]``: write the key reference."""
    args = sys.argv[1:] if argv is None else argv
    written = write_reference(Path(args[0]) if args else REFERENCE_PATH)
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
