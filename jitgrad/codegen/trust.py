"""Who may write the kernel cache: the checks made before anything is loaded
from it.

The cache holds code that jitgrad runs: kernel modules (``k_<hash>.py``),
shared libraries (``*.so``), their manifests, and Numba's index pickles and
object code under ``__pycache__/``. The SHA-256 digests recorded beside them
catch damaged files, not forged ones: whoever can write the directory can
recompute a digest. So, like ssh with its ``StrictModes`` and pip with its
cache, jitgrad uses a cache directory only when nobody but the current user
can write it:

* the directory, and ``__pycache__/`` in it, is a real directory (not a
  symbolic link), owned by the current user, and not writable by its group or
  by others;
* every folder above it is owned by the user or by root, and is not writable
  by group or others unless its sticky bit is set (as on ``/tmp``, where
  others cannot rename or remove what is ours);
* ``NUMBA_CACHE_DIR``, where it is set, passes the same checks (Numba would put
  its index pickles there);
* every file loaded is a regular file (opened with ``O_NOFOLLOW``: a symbolic
  link is refused), owned by the user, and not writable by group or others.

A directory that fails is not used: :func:`jitgrad.compile` warns once
(``RuntimeWarning``, with the reason) and compiles in memory. A file that fails
is treated as missing and rebuilt (replaced by ours).

What this does not promise: a directory that passes is the user's own, and
anything the user's processes write there is trusted. A cache shared between
users (on a cluster) must therefore be read-only to all but one trusted user,
who fills it; the others then get the warning and compile in memory, or point
``JITGRAD_CACHE_DIR`` at a folder of their own.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile

__all__ = ["directory_problem", "read_bytes", "file_problem", "UntrustedFile"]


class UntrustedFile(PermissionError):
    """A cache file that fails the checks of :mod:`jitgrad.codegen.trust`."""


def _uid():
    return os.geteuid() if hasattr(os, "geteuid") else None


def _mode_problem(st, what) -> str | None:
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        return f"{what} is owned by uid {st.st_uid}, not by this user (uid {uid})"
    if st.st_mode & 0o022:
        who = " and ".join(
            w for b, w in ((0o020, "its group"), (0o002, "others")) if st.st_mode & b
        )
        return f"{what} is writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _entry_problem(path, what, is_kind, kind, missing_ok=False) -> str | None:
    """Why ``path`` (examined without following a link) is not a ``kind``
    (``is_kind`` tests the mode) owned by this user and writable by nobody else."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if missing_ok and isinstance(e, FileNotFoundError):
            return None
        return f"{what} cannot be examined ({e})"
    if stat.S_ISLNK(st.st_mode):
        return f"{what} is a symbolic link"
    if not is_kind(st.st_mode):
        return f"{what} is not a {kind}"
    if _uid() is None:
        return None
    return _mode_problem(st, what)


def _dir_problem(path, what) -> str | None:
    return _entry_problem(path, what, stat.S_ISDIR, "directory")


def _parents_problem(path) -> str | None:
    uid = _uid()
    p = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            st = os.stat(p)
        except OSError as e:
            return f"folder {p} above it cannot be examined ({e})"
        if uid is not None and st.st_uid not in (0, uid):
            return f"folder {p} above it is owned by uid {st.st_uid}"
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return f"folder {p} above it is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
        up = os.path.dirname(p)
        if up == p:
            return None
        p = up


_VERDICTS: dict = {}


def directory_problem(d: str) -> str | None:
    """Why the existing cache directory ``d`` must not be used, or None.

    The verdict is kept per process while the directory's (and its
    ``__pycache__``'s) owner, mode and inode stay the same."""
    if _uid() is None:  # no POSIX owners (Windows): nothing to check
        return None
    d = os.path.abspath(d)
    pc = os.path.join(d, "__pycache__")
    key = []
    for p in (d, pc):
        try:
            st = os.lstat(p)
            key.append((st.st_ino, st.st_mode, st.st_uid, st.st_mtime_ns))
        except OSError:
            key.append(None)
    numba_dir = os.environ.get("NUMBA_CACHE_DIR") or None
    key = (d, tuple(key), numba_dir)
    if key in _VERDICTS:
        return _VERDICTS[key]
    why = _dir_problem(d, f"cache directory {d}") or _parents_problem(d)
    if why is None and os.path.lexists(pc):
        why = _dir_problem(pc, f"{pc}")
        if why is None:
            try:
                names = os.listdir(pc)
            except OSError as e:
                names, why = [], f"{pc} cannot be listed ({e})"
            for name in names:
                why = file_problem(os.path.join(pc, name))
                if why:
                    break
    if why is None and numba_dir and os.path.isdir(numba_dir):
        why = _dir_problem(numba_dir, f"NUMBA_CACHE_DIR {numba_dir}")
    _VERDICTS[key] = why
    return why


def file_problem(path: str) -> str | None:
    """Why the cache file ``path`` must not be loaded, or None (also None when it
    does not exist: a missing file is rebuilt)."""
    return _entry_problem(path, path, stat.S_ISREG, "regular file", missing_ok=True)


def read_bytes(path: str) -> bytes:
    """The contents of the cache file ``path``, opened without following a
    symbolic link and checked (owner, mode) on the open file. Raises
    :class:`UntrustedFile` (an ``OSError``) when it fails the checks, and
    ``FileNotFoundError`` when it is missing."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if os.path.islink(path):
            raise UntrustedFile(f"{path} is a symbolic link") from None
        raise e
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        why = None
        if not stat.S_ISREG(st.st_mode):
            why = f"{path} is not a regular file"
        elif _uid() is not None:
            why = _mode_problem(st, path)
        if why:
            raise UntrustedFile(why)
        return f.read()


def atomic_write(path: str, data: bytes):
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    a rename, so that a reader sees the old file or the whole new one, never a
    part (a failed write leaves no temporary behind)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def seal(kind: str, body: str, extra: bytes = b"") -> str:
    """``body`` under a first line ``# jitgrad <kind> sha256=<digest>``, the digest
    of ``body`` and ``extra`` (the bytes of a file that goes with it): the one
    sealed format of the cache's text files (kernel modules, library manifests)."""
    digest = hashlib.sha256(body.encode() + extra).hexdigest()
    return f"# jitgrad {kind} sha256={digest}\n{body}"


def unseal(kind: str, text: str, extra: bytes = b"") -> str | None:
    """The body of ``text`` sealed by :func:`seal` as ``kind`` with ``extra``, or
    None when the seal is missing or does not match."""
    first, _, body = text.partition("\n")
    head = f"# jitgrad {kind} sha256="
    if not first.startswith(head):
        return None
    if first[len(head) :] != hashlib.sha256(body.encode() + extra).hexdigest():
        return None
    return body
