"""Build hook: an editable install maps ``btfhub_mirror_cli`` onto the source folder ``cli/``.

The typer front end lives in ``cli/`` but installs as ``btfhub_mirror_cli`` (a top-level module
called ``cli`` would collide with other distributions). The normal wheel copies the folder under
that name (``force-include`` in pyproject.toml). Hatchling's own editable mode cannot express the
rename (with ``sources`` it refuses, see https://github.com/pfmoore/editables/issues/20), and
putting the repository root on ``sys.path`` would expose ``cli`` (and ``tests``) as top-level
modules. So for ``pip install -e .`` this hook replaces the copied folder with one ``.pth`` line
that registers the name with the same import hook hatchling uses for ``btfhub_mirror``
(``dev-mode-exact``): ``editables``' RedirectingFinder loads ``btfhub_mirror_cli`` from
``cli/__init__.py``, and its submodules from ``cli/``, so edits take effect without reinstalling.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

INSTALLED_NAME = "btfhub_mirror_cli"
SOURCE_DIR = "cli"


class EditableCliHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    _scratch: str | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "editable":
            return
        init = os.path.join(self.root, SOURCE_DIR, "__init__.py")
        if not os.path.isfile(init):
            raise FileNotFoundError(f"{init}: the {INSTALLED_NAME} package's source is missing")
        # A .pth line that starts with "import" is executed at interpreter start-up (site.py).
        line = (
            "import editables.redirector as r; r.RedirectingFinder.install(); "
            f"r.RedirectingFinder.map_module({INSTALLED_NAME!r}, {init!r})\n"
        )
        self._scratch = tempfile.mkdtemp(prefix="btfmirror-editable-")
        pth = os.path.join(self._scratch, f"_{INSTALLED_NAME}.pth")
        with open(pth, "w", encoding="utf-8") as f:
            f.write(line)
        # Non-empty: replaces the configured force-include (the copy of cli/) in editable builds.
        build_data["force_include_editable"][pth] = f"_{INSTALLED_NAME}.pth"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
