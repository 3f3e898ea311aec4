"""Reading input files with bounds: regular files only, limited in size and in expansion.

A FIFO, a device such as ``/dev/zero`` or a folder given as an input file is refused before
it is opened (opening a FIFO waits for a writer; reading ``/dev/zero`` never ends), a file
larger than :data:`~simulation.limits.MAX_INPUT_BYTES` is refused before it is read, and
YAML whose aliases expand to more than :data:`~simulation.limits.MAX_INPUT_VALUES` values
is refused before anything walks the expanded data.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from simulation.errors import ScenarioError
from simulation.limits import MAX_INPUT_BYTES, MAX_INPUT_VALUES

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_input_text(path: Path, *, limit: int = MAX_INPUT_BYTES) -> str:
    """The text of an input file, refused in one line when it is not a bounded regular file.

    Raises:
        ScenarioError: missing, not a regular file, too large, unreadable or not UTF-8.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise ScenarioError(f"{path}: is {kind}; give a file")
    if info.st_size > limit:
        raise ScenarioError(
            f"{path}: {info.st_size:,} bytes is not allowed: input files are at most "
            f"{limit:,} bytes"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)  # a file that grows while read stays bounded
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ScenarioError(f"{path}: is not allowed: input files are at most {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: cannot be read (UnicodeDecodeError)") from None


def check_expanded_size(data: Any, source: str, *, limit: int = MAX_INPUT_VALUES) -> None:
    """Refuse data whose shared parts (YAML aliases) expand to more than ``limit`` values.

    PyYAML builds an alias as a reference to one object, so a kilobyte of nested aliases is
    cheap to load but astronomically large to validate, copy or print. The expanded size is
    counted with one visit per distinct object; a structure that contains itself is refused.

    Raises:
        ScenarioError: too many values, or a value that contains itself.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise ScenarioError(f"{source}: a YAML alias refers to itself; this is not allowed")
        visiting.add(key)
        children = value.items() if isinstance(value, dict) else enumerate(value)
        total = 1
        for _, child in children:
            total += size(child)
            if total > limit:
                break
        visiting.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(data)
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply to be a scenario") from None
    if total > limit:
        raise ScenarioError(
            f"{source}: expands to more than {limit:,} values (YAML aliases) and is not "
            f"allowed: input files hold at most {limit:,}"
        )
