"""Worker processes of a pool (pack's minimizers, sync's indexers): what each one sets up first.

Kept free of heavy imports so both pools can use it without loading the other's code.
"""

from __future__ import annotations

import os
import signal
import sys

#: prctl(2) option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the parent dies (Linux; elsewhere nothing).

    A pool worker blocks reading the pool's pipe; after a ``kill -9`` of the parent it would
    wait there forever. The parent may have died before the prctl took effect: then the
    parent pid has already changed (re-parented to init or a subreaper), and we leave at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def quiet_worker(parent_pid: int | None) -> None:
    """Set up a forked pool worker: gone with its parent, deaf to Ctrl-C, never printing."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group: the parent alone decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker may hold copies of stream locks another parent thread held at fork
    # time; it never writes, so it must never flush them either (multiprocessing flushes
    # sys.stdout and sys.stderr at exit).
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as we do)
