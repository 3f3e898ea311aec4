"""Reading scenario files: YAML, ``extends:`` chains, dotted overrides, one-line errors."""

from __future__ import annotations

import copy
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from simulation.errors import ScenarioError
from simulation.inputs import check_expanded_size, read_input_text
from simulation.limits import MAX_EXTENDS_DEPTH
from simulation.scenario.extending import (
    REPLACE_TAG,
    construct_replace,
    drop_alternatives,
    merge_derived,
    plain,
    structure_changes,
)
from simulation.scenario.schema import Scenario


def bundled_folder(kind: Literal["scenarios", "experiments"]) -> Path:
    """The folder of the scenario or experiment files shipped with relsim.

    An installed wheel carries them in ``simulation/bundled/`` (pyproject.toml maps the
    checkout's top-level folders there at build time); a checkout, or an editable install
    of one, reads the top-level ``scenarios/`` and ``experiments/`` themselves.
    """
    package = Path(__file__).resolve().parents[1]
    installed = package / "bundled" / kind
    return installed if installed.is_dir() else package.parent / kind


BUNDLED_DIR = bundled_folder("scenarios")
EXPERIMENTS_DIR = bundled_folder("experiments")
DEFAULT_SCENARIO = "acquisition_vs_retention"


def bundled_scenarios() -> list[Path]:
    """Return the scenario files shipped with relsim, sorted by name."""
    return sorted(BUNDLED_DIR.glob("*.yaml"))


def bundled_experiments() -> list[Path]:
    """Return the experiment files shipped with relsim, sorted by name."""
    return sorted(EXPERIMENTS_DIR.glob("*.yaml"))


def resolve_path(name: str | Path) -> Path:
    """Find a scenario by path, or by the name of a bundled scenario.

    Raises:
        ScenarioError: when neither exists.
    """
    path = Path(name)
    if path.is_file():
        return path
    if path.exists():  # a folder, FIFO or device: refused before anything opens it
        read_input_text(path)
    for candidate in (BUNDLED_DIR / f"{name}", BUNDLED_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in bundled_scenarios())
    raise ScenarioError(f"{name}: no such file (bundled scenarios: {known})")


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping.

    Plain PyYAML keeps the last of two equal keys, so a setting edited in one place and
    left in another would silently lose one of them.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising a ConstructorError at the second of two equal keys."""
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` merges may be overridden on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}; give each setting once",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(REPLACE_TAG, construct_replace)


def read_yaml(path: Path, *, keep_replace: bool = False) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping.

    Args:
        path: the file.
        keep_replace: keep the ``!replace`` markers for :func:`merge_derived` (by default a
            marked value is read as the plain value: with nothing to merge into, it is one).

    Raises:
        ScenarioError: missing file, bad YAML, or not a mapping.
    """
    text = read_input_text(path)  # a regular file of bounded size: never a FIFO or device
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    check_expanded_size(data, str(path))  # before anything copies or validates the aliases
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: the file holds a {type(data).__name__}, a mapping of settings is required"
        )
    return data if keep_replace else plain(data)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: mappings merge, other values replace.

    A ``null`` in the override removes the key. Lists replace: this knows no schema, so
    scenario files are merged by :func:`merge_derived`, which merges named lists by name.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None and key in merged and isinstance(merged[key], dict):
            del merged[key]
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_raw(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and everything it ``extends:``, merged, but not validated.

    A derived file merges into its parent by the rules of :mod:`simulation.scenario.extending`
    (firms and policies by name; ``!replace`` to replace a list or block whole).
    """
    file = resolve_path(path).resolve()
    if len(_chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            f"{_chain[0]}: extends: a chain of more than {MAX_EXTENDS_DEPTH} files is not "
            "allowed; extend a scenario that holds more of the settings itself"
        )
    if file in _chain:
        loop = " -> ".join(str(p) for p in (*_chain, file))
        raise ScenarioError(f"{_chain[-1]}: extends: loop {loop}; a scenario cannot extend itself")
    data = read_yaml(file, keep_replace=True)
    parent = _parent_file(file, data.pop("extends", None))
    if parent is None:
        return plain(data)
    base = load_raw(parent, (*_chain, file))
    base.pop("name", None)  # a variant is named after its own file unless it says otherwise
    return merge_derived(base, data, str(file))


def parent_file(path: str | Path) -> Path | None:
    """The file a scenario ``extends:``, or ``None`` when it starts from the defaults.

    Raises:
        ScenarioError: the file cannot be read, or its parent does not exist.
    """
    file = resolve_path(path).resolve()
    return _parent_file(file, read_yaml(file).get("extends"))


def _parent_file(file: Path, parent: Any) -> Path | None:
    if parent is None:
        return None
    if not isinstance(parent, str):
        raise ScenarioError(f"{file}: extends: {parent!r} is not allowed; give a file name")
    local = file.parent / parent
    try:
        return local if local.is_file() else resolve_path(parent)
    except ScenarioError:
        raise ScenarioError(f"{file}: extends: {parent!r}: no such scenario file") from None


def structure_note(path: str | Path) -> str | None:
    """One line saying how a derived scenario's structure differs from its parent's.

    Returns:
        ``None`` when the file extends nothing, keeps its parent's firms (in their order)
        and policies, or extends a file that is not a complete scenario on its own;
        otherwise for example ``changes the structure of acquisition_vs_retention.yaml:
        firms removed: Rival B``.

    Raises:
        ScenarioError: the file itself cannot be loaded.
    """
    derived = load_scenario(path)
    parent = parent_file(path)
    try:
        inherited = load_scenario(parent) if parent is not None else None
    except ScenarioError:
        return None  # a partial file made to be extended: no structure of its own
    changes = structure_changes(inherited, derived) if inherited is not None else []
    if not changes:
        return None
    assert parent is not None
    return f"changes the structure of {parent.name}: {'; '.join(changes)}"


def format_validation_error(
    exc: ValidationError,
    source: str,
    *,
    root: type[BaseModel] = Scenario,
    block_rules_plain: bool = False,
) -> list[str]:
    """Turn pydantic's errors into one line each: file, dotted path, value, what is allowed.

    Args:
        exc: the validation error.
        source: the file (or option) the values came from.
        root: the schema the error paths start from (scenarios or experiments).
        block_rules_plain: for a rule across a whole block's fields, print only its message
            (it names the fields and values) instead of the block's repr.
    """
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not _is_noise(p)]
        path = ".".join(loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(root, err["loc"][:-1])
            msg = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
            lines.append(f"{source}: {path}: {msg}")
            continue
        if err["type"] == "missing":
            lines.append(f"{source}: {path}: required field is missing")
            continue
        if err["type"] == "yes_no_for_number":  # raised for one key of a block (config.Strict)
            key, value = err["ctx"]["key"], err["ctx"]["value"]
            where = key if path == "(top level)" else f"{path}.{key}"
            lines.append(
                f"{source}: {where}: {value} is not allowed: a number is needed, not yes/no"
            )
            continue
        value = err.get("input")
        if block_rules_plain and isinstance(value, dict):
            lines.append(f"{source}: {path}: {msg}")
            continue
        lines.append(f"{source}: {path}: {_short(value)} is not allowed: {msg}")
    return lines


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and part in _TAGS


def _is_noise(part: Any) -> bool:
    """Parts of an error path that name what pydantic tried, not a field of the file.

    Distribution kinds (``beta``...) and the members of a union (``float``, ``list[...]``).
    """
    return isinstance(part, str) and (
        part in _TAGS or part in {"float", "int", "str", "bool"} or "[" in part
    )


_REPR = reprlib.Repr()  # attributes, not keywords: Python 3.11's Repr takes none
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist = 3, 8, 8
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 70


def _short(value: Any) -> str:
    text = _REPR.repr(value)  # bounded work, however large the value
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    """Names of the fields allowed at ``loc`` of a schema, for 'unknown key' messages."""
    from simulation.scenario import schema as config

    model: Any = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if isinstance(part, str) and _is_union_tag(part):
            model = getattr(config, _TAGS[part])
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:  # a key of a mapping such as policies.<name>
            continue
        model = _inner_model(field.annotation)
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else []


_TAGS = {
    "constant": "Constant",
    "uniform": "Uniform",
    "normal": "Normal",
    "beta": "Beta",
    "lognormal": "LogNormal",
    "gamma": "Gamma",
}


def _inner_model(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as ``list[Firm]`` or ``Policy | None``."""
    from typing import get_args

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def validate(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a merged scenario mapping.

    Raises:
        ScenarioError: one line per problem.
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, source)) from None


def load_scenario(
    path: str | Path, overrides: Mapping[str, Any] | None = None, *, name: str | None = None
) -> Scenario:
    """Load, merge, override and validate a scenario file.

    Args:
        path: a file, or the name of a bundled scenario.
        overrides: dotted paths into the resolved scenario and their new values,
            for example ``{"market.customers": 2000}``.
        name: the scenario's name when the file does not give one (default: the file's stem).

    Returns:
        The validated scenario with every default filled in.

    Raises:
        ScenarioError: with one line per problem, naming file, field path and value.
    """
    file = resolve_path(path)
    data = load_raw(file)
    data.setdefault("name", name or file.stem)
    scenario = validate(data, str(file))
    if overrides:
        scenario = apply_overrides(scenario, overrides, source=str(file))
    return scenario


def apply_overrides(
    scenario: Scenario, overrides: Mapping[str, Any], source: str = "<overrides>"
) -> Scenario:
    """Return a copy of ``scenario`` with dotted-path values replaced and re-validated.

    A path may name list items by index or, for firms, by name
    (``market.firms.Focal.price`` or ``market.firms.0.price``).

    Raises:
        ScenarioError: an unknown path or a value that the schema does not allow.
    """
    data = scenario.model_dump(mode="python")
    problems = []
    for path, value in overrides.items():
        try:
            set_path(data, path, value)
            drop_alternatives(data, path, value)  # a new allocation replaces a level, ...
        except KeyError as exc:
            problems.append(f"{source}: {path}: {exc.args[0]}")
    if problems:
        raise ScenarioError(problems)
    return validate(data, source)


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` that must already exist in ``data``.

    Raises:
        KeyError: with a message saying which part does not exist and what does.
    """
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:i]) or "the scenario"
            options = sorted(node) if isinstance(node, dict) else []
            hint = f"; {where} has: {', '.join(map(str, options))}" if options else ""
            raise KeyError(f"no field '{part}' in {where}{hint}")
        if last:
            node[part] = value
        elif node[part] is None and parts[i + 1 :]:
            node[part] = {}
            node = node[part]
        else:
            node = node[part]


def _list_index(items: list, part: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if -len(items) <= index < len(items):
            return index
        raise KeyError(f"index {index} is out of range (0 to {len(items) - 1})")
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return index
    names = [item.get("name") for item in items if isinstance(item, dict)]
    raise KeyError(f"no item named '{part}' (have: {', '.join(map(str, names))})")


def dump_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario as YAML text (every default filled in)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
