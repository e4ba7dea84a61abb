"""All git access of the mirror: the git CLI (through GitPython) for the network, pygit2 to read.

The mirror of one remote is a bare, blobless, shallow clone: it holds the tip commit and its
trees, and only the blobs btfmirror asked for. libgit2 can neither filter nor fetch shallow over
``file://``, and it fetches whole blobs into a promisor repository, so every network operation
runs the git CLI; pygit2 only reads, and a missing blob reads as "not here" (it never goes to the
network). Blobs come in one batched fetch per chunk (the noop negotiator and ``--stdin``, the
fetch git itself runs for promisor objects), never one round trip per blob.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import git
import pygit2
from git.cmd import handle_process_output
from git.util import finalize_process

from ..errors import BlobTooLargeError, EmptyRemoteError, GitCommandError, UsageError
from ..progress import NULL_PROGRESS, Progress
from .remote import FetchStats, RemoteKind, TreeFile
from .store import unsafe_name

# Repositories that an older git (or another tool) marked with extensions.partialClone must
# still open; libgit2 refuses unknown extensions otherwise.
pygit2.option(pygit2.enums.Option.SET_EXTENSIONS, ["partialclone"], 1)

TREE_MODE = 0o040000

#: Blobs above this many bytes are streamed by git instead of being read whole into its memory
#: (``core.bigFileThreshold``: index-pack hashes them in chunks, cat-file copies them in chunks).
_STREAM_THRESHOLD = "1m"
# Never prompt for credentials (a dead or private remote must fail, not hang), and keep every
# pack git receives as it came so its size is the number of bytes received.
_NETWORK_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
_NETWORK_CONFIG = [
    "fetch.unpackLimit=1",
    "transfer.unpackLimit=1",
    "protocol.version=2",
    f"core.bigFileThreshold={_STREAM_THRESHOLD}",
]
_FATAL_RE = re.compile(r"(?:fatal|error): (.+)")
#: Bytes per read when copying a blob out of ``git cat-file``.
_CHUNK = 1 << 20
#: Only these transports reach git; ``ext::`` and other ``<helper>::`` URLs run commands.
ALLOWED_PROTOCOLS = ("https", "http", "ssh", "git", "file")
_URL_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER_URL_RE = re.compile(r"[A-Za-z0-9+.-]+::")  # git's <transport>::<address> form


def check_url(url: str) -> None:
    """UsageError unless ``url`` uses a transport of :data:`ALLOWED_PROTOCOLS` or is a path.

    ``ext::`` runs an arbitrary command and ``fd::`` reads a file descriptor; git blocks them
    by default (``protocol.allow``), refuse them before git or GitPython sees them.
    """
    allowed = ", ".join(f"{p}://" for p in ALLOWED_PROTOCOLS)
    scheme = _URL_SCHEME_RE.match(url)
    helper = _HELPER_URL_RE.match(url)
    if helper is not None:
        raise UsageError(
            f"remote {url!r}: the {helper.group(0)} transport is not allowed (use "
            f"{allowed}, user@host:path or a path)"
        )
    if url.startswith("-") or any(ord(c) < 0x20 for c in url):
        raise UsageError(f"remote {url!r}: not a URL (use {allowed}, user@host:path or a path)")
    if scheme is not None and scheme.group(1).lower() not in ALLOWED_PROTOCOLS:
        raise UsageError(
            f"remote {url!r}: protocol {scheme.group(1)!r} is not allowed (use "
            f"{allowed}, user@host:path or a path)"
        )


def is_local_path(url: str) -> bool:
    """Whether git reads ``url`` as a path: no ``scheme://``, and no ``:`` before the first
    ``/`` (``host:path`` is ssh), as git's own ``url_is_local_not_ssh`` decides."""
    if _URL_SCHEME_RE.match(url):
        return False
    colon, slash = url.find(":"), url.find("/")
    return colon < 0 or 0 <= slash < colon


def canonical_url(url: str) -> str:
    """``url`` checked (:func:`check_url`), a plain path turned into an absolute ``file://``
    URL (``./mirror``, ``/srv/btfhub-archive``, ``repo.git``).

    git clones a plain path with its local transport, which opens the source repository in
    the cloning process, whose environment pins ``GIT_OBJECT_DIRECTORY`` to the new mirror
    (:func:`_repo_env`): git then finds no repository there ("does not exist"). Over
    ``file://`` it runs ``upload-pack`` with those variables cleared, and honours
    ``--filter`` and ``--depth``, which a local clone ignores. Absolute, so the recorded remote
    does not depend on the directory a later run starts in; percent-encoded (``as_uri``), as
    git decodes ``file://`` paths.
    """
    if not url.strip():
        raise UsageError("empty remote URL (use a URL, user@host:path or a path)")
    check_url(url)
    if not is_local_path(url):
        return url
    return Path(os.path.expanduser(url)).resolve().as_uri()


def remote_name(url: str) -> str:
    """A remote's short name for progress labels: its last path component without ``.git``
    (``https://github.com/aquasecurity/btfhub-archive.git`` → ``btfhub-archive``)."""
    path = url.rstrip("/").removesuffix("/.git")  # a work tree's .git: name the work tree
    path = path.rpartition("/")[2] or path
    path = path.rpartition(":")[2] or path  # user@host:repo.git
    return path.removesuffix(".git") or url


class _GitProgress(git.RemoteProgress):
    """Forwards git's progress lines (objects, bytes) to a :class:`Progress`."""

    _LABELS = {
        git.RemoteProgress.COUNTING: "counting objects",
        git.RemoteProgress.COMPRESSING: "compressing objects",
        git.RemoteProgress.RECEIVING: "receiving objects",
        git.RemoteProgress.RESOLVING: "resolving deltas",
        git.RemoteProgress.WRITING: "writing objects",
        git.RemoteProgress.FINDING_SOURCES: "finding sources",
        git.RemoteProgress.CHECKING_OUT: "checking out",
    }

    def __init__(self, progress: Progress, prefix: str) -> None:
        super().__init__()
        self._progress = progress
        self._prefix = prefix
        self._stage: int | None = None
        self._done = 0

    def lines(self) -> list[str]:
        """What git said besides progress (its fatal and error lines included)."""
        return [*self.other_lines, *self.error_lines]

    def update(
        self,
        op_code: int,
        cur_count: str | float,
        max_count: str | float | None = None,
        message: str = "",
    ) -> None:
        stage = op_code & self.OP_MASK
        cur = int(float(cur_count or 0))
        if stage != self._stage:
            self._stage, self._done = stage, 0
            total = int(float(max_count)) if max_count else None
            label = self._LABELS.get(stage, "working")
            self._progress.phase(f"{self._prefix}: {label}", total)
        if cur > self._done:
            self._progress.advance(cur - self._done, message.strip(" ,") or None)
            self._done = cur


#: Every network git this process started and has not reaped, newest last (see _TrackedGit).
_RUNNING: list[subprocess.Popen[Any]] = []
#: How long an interrupted git gets to exit after SIGTERM before SIGKILL.
_TERM_GRACE = 5.0


class _TrackedGit(git.Git):
    """``git``, remembered until it is reaped so an interrupted run can end it.

    A terminal's Ctrl-C reaches the whole foreground process group, git included; ``kill PID``
    (SIGTERM from a service manager or a CI timeout) reaches only btfmirror, and git fetch, its
    index-pack and, for file:// remotes, the upload-pack it runs, would go on writing into the
    mirror after the cache lock is gone. :func:`_ending_children` ends them before the lock is
    released. git stays in our process group, so a ``kill -9`` of that group still ends it.
    """

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = super().execute(*args, **kwargs)
        proc = getattr(result, "proc", None)
        if isinstance(proc, subprocess.Popen):  # as_process: the caller reads and reaps it
            _RUNNING.append(proc)
        return result


class _TrackedRepo(git.Repo):
    GitCommandWrapperType = _TrackedGit


def _descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren... (Linux ``/proc/PID/task/TID/children``)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def _signal(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _end_tree(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to ``proc`` and every process under it, SIGKILL after a grace period; reaps
    ``proc``. The tree is read first: once git is gone its children are re-parented away."""
    if proc.returncode is not None:
        return  # reaped: its pid may belong to someone else by now
    tree = [proc.pid, *_descendants(proc.pid)]
    _signal(tree, signal.SIGTERM)
    try:
        proc.wait(timeout=_TERM_GRACE)
    except subprocess.TimeoutExpired:
        _signal(tree, signal.SIGKILL)
        proc.wait()
    # What git started and left behind (index-pack, upload-pack, a transport helper).
    _signal([pid for pid in tree[1:] if os.path.exists(f"/proc/{pid}")], signal.SIGKILL)


@contextlib.contextmanager
def _ending_children() -> Iterator[None]:
    """Around a git run: on any exception (KeyboardInterrupt, the CLI's SIGTERM exit, an
    error), end every git started in the block, and what it started, before it propagates."""
    mark = len(_RUNNING)
    try:
        yield
    except BaseException:
        for proc in reversed(_RUNNING[mark:]):
            _end_tree(proc)
        raise
    finally:
        del _RUNNING[mark:]


def _clone_from(url: str, path: Path, **kwargs: Any) -> None:
    """``git clone``, ended with what it started when interrupted (see :class:`_TrackedGit`)."""
    with _ending_children():
        _TrackedRepo.clone_from(url, path, **kwargs)


def _git_error(action: str, err: BaseException, lines: Sequence[str] = ()) -> GitCommandError:
    """One readable line from git's stderr: its first fatal/error line (and continuation)."""
    text = [*lines, *str(getattr(err, "stderr", "") or "").splitlines()]
    detail = ""
    for i, line in enumerate(text):
        match = _FATAL_RE.search(line)
        if match is not None:
            detail = match.group(1).strip().rstrip("'")
            rest = [t.strip() for t in text[i + 1 :] if t.strip()]
            if detail.endswith(":") and rest:
                detail = f"{detail} {rest[0]}"
            break
    if not detail:
        detail = (str(err).strip().splitlines() or ["git failed"])[-1].strip()
    command = " ".join(str(c) for c in getattr(err, "command", []) or [])
    status = getattr(err, "status", 1)
    return GitCommandError(
        action, detail, command=command, returncode=status if isinstance(status, int) else 1
    )


def _repo_env(path: Path) -> dict[str, str]:
    # A GIT_DIR or object directory inherited from a hook or an IDE would redirect every
    # command (pre-commit's no_git_env); GitPython merges os.environ, so pin them to the mirror.
    return {
        "GIT_DIR": str(path),
        "GIT_OBJECT_DIRECTORY": str(path / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
    }


def _run(cmd: git.Git, args: list[str], adapter: _GitProgress, stdin: str | None = None) -> None:
    """``git fetch ARGS`` with its progress lines parsed as they come (interrupted: its
    processes are ended first, see :class:`_TrackedGit`)."""
    with _ending_children():
        _run_fetch(cmd, args, adapter, stdin)


def _run_fetch(
    cmd: git.Git, args: list[str], adapter: _GitProgress, stdin: str | None = None
) -> None:
    proc = cmd.fetch(
        *args,
        as_process=True,
        universal_newlines=True,
        istream=subprocess.PIPE if stdin is not None else None,
    )
    if stdin is not None:
        assert proc.proc is not None and proc.proc.stdin is not None
        proc.proc.stdin.write(stdin)
        proc.proc.stdin.close()
    # Text mode turns git's \r-separated progress updates into separate lines.
    handle_process_output(
        proc, None, adapter.new_message_handler(), finalize_process, decode_streams=False
    )


def remove_partial_clones(path: Path) -> None:
    """Delete clones a killed run left half-made next to ``path``."""
    for stale in path.parent.glob(f"{path.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


class MirrorRepo:
    """The bare, blobless, shallow mirror of one remote."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        self._pg: pygit2.Repository | None = None

    # -- network (git CLI) -------------------------------------------------------------

    @classmethod
    def clone(cls, path: Path, url: str, progress: Progress = NULL_PROGRESS) -> MirrorRepo:
        """Clone trees only (``--filter=blob:none --depth=1``) into ``path``, atomically."""
        remove_partial_clones(path)
        partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
        adapter = _GitProgress(progress, f"cloning {remote_name(url)}")
        try:
            _clone_from(
                url,
                partial,
                progress=adapter,
                env={**_NETWORK_ENV, **_repo_env(partial)},
                multi_options=[
                    "--bare",
                    "--filter=blob:none",
                    "--depth=1",
                    "--single-branch",
                    "--no-tags",
                ],
            )
        except (git.GitCommandError, git.GitCommandNotFound) as err:
            shutil.rmtree(partial, ignore_errors=True)
            raise _git_error(f"cannot clone {url}", err, adapter.lines()) from err
        except git.exc.UnsafeProtocolError as err:
            shutil.rmtree(partial, ignore_errors=True)
            raise UsageError(f"remote {url!r}: {err}") from err
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if cls(partial, url).repo.head_is_unborn:
            # git clones an empty repository without complaint; keep no mirror of it, so a
            # later sync clones again once the remote has a commit.
            shutil.rmtree(partial, ignore_errors=True)
            raise EmptyRemoteError(url)
        os.replace(partial, path)
        return cls(path, url)

    def _git(self, *, network: bool = False) -> git.Git:
        cmd = _TrackedGit(str(self.path))
        env: dict[str, Any] = {**_NETWORK_ENV, **_repo_env(self.path)}
        if not network:
            env["GIT_NO_LAZY_FETCH"] = "1"
        cmd.update_environment(**env)
        return cmd

    def update(self, progress: Progress = NULL_PROGRESS) -> str:
        """Fetch the remote's new tip, commit and trees only; returns the tip."""
        branch = self.branch()
        adapter = _GitProgress(progress, f"updating {remote_name(self.url)}")
        try:
            _run(
                self._git(network=True)(c=_NETWORK_CONFIG),
                [
                    "--depth=1",
                    "--filter=blob:none",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--progress",
                    self.url,
                    f"+refs/heads/{branch}:refs/heads/{branch}",
                ],
                adapter,
            )
        except (git.GitCommandError, git.GitCommandNotFound) as err:
            raise _git_error(f"cannot update from {self.url}", err, adapter.lines()) from err
        self._pg = None
        return self.tip()

    def fetch_blobs(
        self, oids: Sequence[str], progress: Progress = NULL_PROGRESS, label: str = "archives"
    ) -> FetchStats:
        """Download exactly ``oids`` in one request; returns objects and bytes received."""
        if not oids:
            return FetchStats(0, 0)
        before = self.pack_bytes()
        adapter = _GitProgress(progress, f"fetching {label}")
        cmd = self._git(network=True)(c=["fetch.negotiationAlgorithm=noop", *_NETWORK_CONFIG])
        try:
            _run(
                cmd,
                [
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--recurse-submodules=no",
                    "--filter=blob:none",
                    "--progress",
                    self.url,
                    "--stdin",
                ],
                adapter,
                stdin="".join(f"{oid}\n" for oid in oids),
            )
        except (git.GitCommandError, git.GitCommandNotFound) as err:
            raise _git_error(f"cannot fetch from {self.url}", err, adapter.lines()) from err
        self._pg = None
        missing = [oid for oid in oids if not self.has_blob(oid)]
        if missing:
            raise GitCommandError(
                f"cannot fetch from {self.url}",
                f"the remote did not send {len(missing)} of {len(oids)} objects "
                f"(first: {missing[0]})",
            )
        return FetchStats(len(oids), self.pack_bytes() - before)

    # -- local reads (pygit2, never touches the network) -------------------------------

    @property
    def repo(self) -> pygit2.Repository:
        if self._pg is None:
            try:
                self._pg = pygit2.Repository(str(self.path))
            except pygit2.GitError as err:
                raise GitCommandError(f"cannot open mirror {self.path}", str(err)) from err
        return self._pg

    def branch(self) -> str:
        ref = self.repo.references.get("HEAD")
        target = ref.target if ref is not None else None
        if isinstance(target, str) and target.startswith("refs/heads/"):
            return target.removeprefix("refs/heads/")
        raise GitCommandError(f"mirror {self.path}", "HEAD does not name a branch")

    def tip(self) -> str:
        try:
            return str(self.repo.revparse_single("HEAD").id)
        except (KeyError, pygit2.GitError) as err:
            raise GitCommandError(f"mirror {self.path}", f"no tip commit: {err}") from err

    def files(self, commit: str | None = None, max_depth: int = 4) -> Iterator[TreeFile]:
        """Non-directory entries of the commit's tree (the tip by default), depth first.

        Only the first ``max_depth`` levels are walked: btfhub-archive's entries sit at
        ``<distro>/<version>/<arch>/<file>``, and a hostile tree cannot recurse us to death.
        """
        obj = self.repo.revparse_single(commit or "HEAD")
        yield from self._walk(obj.peel(pygit2.Tree), "", max_depth)

    def _walk(self, tree: pygit2.Tree, prefix: str, depth: int) -> Iterator[TreeFile]:
        for entry in tree:
            name = str(entry.name)
            path = prefix + name
            refused = unsafe_name(name)
            if refused is not None:
                yield TreeFile(path, str(entry.id), int(entry.filemode), refused)
            elif entry.filemode != TREE_MODE:
                yield TreeFile(path, str(entry.id), int(entry.filemode))
            elif depth > 1:
                yield from self._walk(self.repo[entry.id].peel(pygit2.Tree), path + "/", depth - 1)

    def has_blob(self, oid: str) -> bool:
        # Odb.exists, not ``oid in repo``: pygit2's __contains__ looks the object up, which
        # reads (and inflates) a whole blob just to say it is there.
        return bool(self.repo.odb.exists(pygit2.Oid(hex=oid)))

    def _cat_file(self, *args: str) -> tuple[list[str], dict[str, str]]:
        # libgit2 reads a whole object into memory to look it up, whatever its size: every
        # blob read goes through git cat-file, which streams large blobs.
        env = {**os.environ, **_NETWORK_ENV, **_repo_env(self.path), "GIT_NO_LAZY_FETCH": "1"}
        return [
            git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git",
            "-c",
            f"core.bigFileThreshold={_STREAM_THRESHOLD}",
            "cat-file",
            *args,
        ], env

    @contextlib.contextmanager
    def blob_reader(self) -> Iterator[BlobReader]:
        """A :class:`BlobReader` on this mirror, its git process ended on exit."""
        reader = BlobReader(self)
        try:
            yield reader
        finally:
            reader.close()

    def bytes_received(self) -> int:
        """Bytes of every pack the mirror holds (what git received over the wire)."""
        return self.pack_bytes()

    def pack_bytes(self) -> int:
        """Bytes of every pack the mirror holds (what git received over the wire)."""
        total = 0
        for pack in (self.path / "objects" / "pack").glob("*.pack"):
            with contextlib.suppress(FileNotFoundError):
                total += pack.stat().st_size
        return total


class BlobReader:
    """Blobs of a mirror streamed out of one ``git cat-file --batch`` process.

    One process for many blobs (a process per blob costs 2 ms each, 20 s for btfhub's 10,000);
    git flushes after every object, so requests go one at a time and nothing deadlocks. A blob
    is copied in chunks and never held whole in memory, by git (``core.bigFileThreshold``) or
    by us.
    """

    def __init__(self, repo: MirrorRepo) -> None:
        self._repo = repo
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            cmd, env = self._repo._cat_file("--batch")
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as err:
                raise GitCommandError(f"cannot read mirror {self._repo.path}", str(err)) from err
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def _fail(self, oid: str, detail: str) -> GitCommandError:
        self.close()
        return GitCommandError(f"mirror {self._repo.path}", f"blob {oid}: {detail}")

    def copy(self, oid: str, out: Any, limit: int) -> int:
        """Copy blob ``oid`` into the binary file ``out``; returns its size.

        BlobTooLargeError, before any content is read, when git's object header says the blob
        is over ``limit`` bytes.
        """
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(f"{oid}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline(256).decode("ascii", "replace").split()
        except OSError as err:
            raise self._fail(oid, f"git cat-file: {err}") from err
        if len(header) != 3 or header[1] != "blob" or not header[2].isdigit():
            raise self._fail(oid, "not in the mirror")
        size = int(header[2])
        if size > limit:
            self.close()  # its content is never read
            raise BlobTooLargeError(oid, size, limit)
        left = size
        try:
            while left:
                chunk = proc.stdout.read(min(left, _CHUNK))
                if not chunk:
                    raise self._fail(oid, f"git sent {size - left} of {size} bytes")
                out.write(chunk)
                left -= len(chunk)
            proc.stdout.read(1)  # the newline after each object
        except BaseException:
            self.close()  # the stream is mid-object: start afresh for the next blob
            raise
        return size

    def read(self, oid: str, limit: int) -> bytes:
        """A whole small blob (a symlink target); BlobTooLargeError over ``limit`` bytes."""
        buffer = io.BytesIO()
        self.copy(oid, buffer, limit)
        return buffer.getvalue()


class GitKind:
    """Git remotes (the default kind, serving every URL): a blobless, shallow mirror each."""

    name = "git"

    def handles(self, url: str) -> bool:
        return True

    def canonical(self, url: str) -> str:
        return canonical_url(url)

    def label(self, url: str) -> str:
        return remote_name(url)

    def refresh(self, path: Path, url: str, progress: Progress) -> tuple[MirrorRepo, bool]:
        if not (path / "HEAD").exists():
            return MirrorRepo.clone(path, url, progress), True
        repo = MirrorRepo(path, url)
        repo.update(progress)
        return repo, False

    def open(self, path: Path, url: str) -> MirrorRepo | None:
        return MirrorRepo(path, url) if (path / "HEAD").exists() else None


GIT_KIND: RemoteKind = GitKind()
