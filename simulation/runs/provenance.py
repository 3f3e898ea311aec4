"""The software a result came from, as recorded in every manifest."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata

RESULT_PACKAGES: tuple[str, ...] = ("relsim", "mesa", "numpy", "scipy", "pandas", "pydantic")
"""Packages whose versions decide a run's numbers."""


def versions(packages: Sequence[str] = RESULT_PACKAGES) -> dict[str, str]:
    """Versions of Python and of the given packages.

    Args:
        packages: distribution names, in the order they are listed.

    Returns:
        ``{"python": ..., package: version}``; a package that is not installed is listed as
        ``"not installed"``.
    """
    found = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
