#!/usr/bin/env python3
"""Print the requirements of pyproject.toml that this interpreter's environment lacks.

Usage (from the repository root, with the virtualenv's python):
    missing_requirements.py build         the build backend (``build-system.requires``)
    missing_requirements.py run [EXTRA]   what an editable build needs besides the backend
                                          (PEP 660 ``get_requires_for_build_editable``), the
                                          project's dependencies and those of extra EXTRA

One requirement per line, nothing when all are there. Dependencies of what is installed are
followed too, so an empty answer means ``pip install --no-index --no-build-isolation -e .``
can succeed without any network. ``scripts/venv.sh`` downloads only what this prints.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip's own copy of tomli is always there
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef, unused-ignore]

# A fresh virtualenv holds pip but not necessarily packaging (hatchling brings it later).
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ModuleNotFoundError:
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment]

PYPROJECT = Path("pyproject.toml")


def unsatisfied(requirements: list[str], extra: str = "") -> list[str]:
    """``requirements`` (and, transitively, what installed ones need) that are missing."""
    missing: list[str] = []
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(r), extra) for r in requirements]
    while todo:
        req, for_extra = todo.pop(0)
        if req.marker is not None and not req.marker.evaluate({"extra": for_extra}):
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            missing.append(str(req))
            continue
        if not req.specifier.contains(dist.version, prereleases=True):
            missing.append(str(req))
            continue
        for wanted in ("", *sorted(req.extras)):
            key = (canonicalize_name(req.name), wanted)
            if key in seen:
                continue
            seen.add(key)
            todo.extend((Requirement(r), wanted) for r in dist.requires or [])
    return missing


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "run") or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    system = project["build-system"]
    if argv[0] == "build":
        missing = unsatisfied(system["requires"])
    else:
        backend = importlib.import_module(system["build-backend"])
        wanted = list(backend.get_requires_for_build_editable())
        wanted += project["project"].get("dependencies", [])
        if len(argv) == 2:
            extras = project["project"].get("optional-dependencies", {})
            if argv[1] not in extras:
                print(f"pyproject.toml: no optional dependencies {argv[1]!r}", file=sys.stderr)
                return 2
            wanted += extras[argv[1]]
        missing = unsatisfied(wanted)
    for requirement in dict.fromkeys(missing):
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
