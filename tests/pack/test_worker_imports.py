"""A pack worker imports the minimizer, not the catalog, the store or git (pack/worker.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: What a worker never needs: the catalog (sqlite3), the mirror and its git (pygit2), the CLI.
FORBIDDEN = (
    "btfhub_mirror.catalog",
    "btfhub_mirror.mirror",
    "sqlite3",
    "pygit2",
    "typer",
    "rich",
    "cli",
)


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


def test_importing_the_worker_loads_no_catalog_store_or_git() -> None:
    loaded = modules_after("import btfhub_mirror.pack.worker")
    assert "btfhub_mirror.minimize" in loaded  # what it is for
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == []


def test_the_pack_api_is_still_the_package_s() -> None:
    loaded = modules_after(
        "from btfhub_mirror.pack import pack, PackResult;"
        "m = sys.modules['btfhub_mirror.pack.pack'];"
        "assert callable(pack) and pack is m.pack and PackResult is m.PackResult"
    )
    assert "btfhub_mirror.pack.pack" in loaded
