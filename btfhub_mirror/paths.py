"""Where btfmirror keeps its cache, and which remotes it mirrors by default."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "BTFHUB_CACHE"
REMOTES_ENV = "BTFHUB_REPO"
DEFAULT_REMOTE = "https://github.com/aquasecurity/btfhub-archive.git"


def cache_dir() -> Path:
    """``$BTFHUB_CACHE`` when set, else the platform's user cache directory for btfmirror."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("btfmirror", appauthor=False))


def default_remotes() -> tuple[str, ...]:
    """``$BTFHUB_REPO`` (comma-separated, as btfgen scripts take it), else btfhub-archive."""
    configured = os.environ.get(REMOTES_ENV, "")
    remotes = tuple(r.strip() for r in configured.split(",") if r.strip())
    return remotes or (DEFAULT_REMOTE,)
