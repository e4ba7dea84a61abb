"""Where btfmirror keeps its cache, and which remotes it mirrors by default."""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass
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


class RemoteSource(enum.Enum):
    """Where the remotes of a sync came from, highest precedence first."""

    OPTION = "--remote"
    ENVIRONMENT = f"${REMOTES_ENV}"
    REMEMBERED = "remembered"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class RemoteChoice:
    """The remotes a sync uses, in priority order, and why these."""

    urls: tuple[str, ...]
    source: RemoteSource


def env_remotes() -> tuple[str, ...]:
    """``$BTFHUB_REPO``, comma-separated as btfgen scripts take it (empty when unset)."""
    configured = os.environ.get(REMOTES_ENV, "")
    return tuple(r.strip() for r in configured.split(",") if r.strip())


def choose_remotes(given: Sequence[str], remembered: Sequence[str] = ()) -> RemoteChoice:
    """The one precedence of remotes: ``--remote`` > ``$BTFHUB_REPO`` > the remotes the cache
    was last synced from (``remembered``, recorded in its catalog) > btfhub-archive on GitHub.

    Remembering them is what keeps a cache built from a local or private mirror on it: a later
    ``sync`` without ``--remote`` must not go to GitHub and mark every entry removed.
    """
    if given:
        return RemoteChoice(tuple(dict.fromkeys(given)), RemoteSource.OPTION)
    env = env_remotes()
    if env:
        return RemoteChoice(tuple(dict.fromkeys(env)), RemoteSource.ENVIRONMENT)
    if remembered:
        return RemoteChoice(tuple(dict.fromkeys(remembered)), RemoteSource.REMEMBERED)
    return RemoteChoice((DEFAULT_REMOTE,), RemoteSource.DEFAULT)
