"""``kill -9`` of a ``pack`` mid-minimize: its pool workers die with it and leave the cache lock
free, so the next ``sync --no-wait`` runs (issue #12, item 2). Real processes, real remote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync
from tests.helpers import REPO
from tests.mirror.gitfixtures import Origin

from .conftest import obj

#: How long dead workers may take to go: the kernel signals them as the parent exits.
WORKERS_GONE_WITHIN = 3.0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it holds no descriptor, no lock)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_kill_9_of_pack_leaves_no_worker_and_no_lock(
    store_copy: Store, _origin_template: Origin, tmp_path: Path
) -> None:
    ready = tmp_path / "minimizing"
    # The parent stops in its progress hook once the first kernel is back: its workers are up
    # (the rest blocked on the pool's pipe, as after any kill), the shared lock held.
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from btfhub_mirror.kernels import KernelFilter
        from btfhub_mirror.mirror import Store
        from btfhub_mirror.pack import pack

        class Stall:
            def phase(self, label, total=None):
                pass
            def advance(self, steps=1, detail=None):
                Path({str(ready)!r}).write_text("x")
                time.sleep(600)
            def note(self, message):
                pass

        pack(Store(Path({str(store_copy.root)!r})), [{str(obj("loadable"))!r}],
             {str(tmp_path / "p.tar.gz")!r}, KernelFilter.create(("debian", "kylin"), (), (), ()),
             jobs=2, progress=Stall())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "pack ended before minimizing"
            assert time.monotonic() < deadline, "pack never started minimizing"
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + WORKERS_GONE_WITHIN
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for w in survivors:  # (old code) leave nothing behind for the rest of the session
        os.kill(w, signal.SIGKILL)
    assert not survivors, "pool workers outlived the killed pack"
    with store_copy.lock(wait=False):
        pass
    result = sync(store_copy, None, [_origin_template.url], wait=False)
    assert result is not None


def test_a_forked_child_does_not_keep_the_lock(store_copy: Store) -> None:
    """A child forked while the lock is held (a pool worker) holds no copy of it: once the
    parent lets go, a writer gets it although the child still runs."""
    go_r, go_w = os.pipe()
    up_r, up_w = os.pipe()
    with store_copy.lock(shared=True):
        child = os.fork()
        if child == 0:  # the child runs Python code only after the fork hooks have run
            os.close(go_w)
            os.write(up_w, b"u")
            os.read(go_r, 1)  # wait until told, holding whatever it inherited
            os._exit(0)
        os.close(up_w)
        assert os.read(up_r, 1) == b"u"
    os.close(go_r)
    os.close(up_r)
    try:
        assert _alive(child)
        with store_copy.lock(wait=False):
            pass
    finally:
        os.close(go_w)  # the child reads EOF and leaves
        os.waitpid(child, 0)
