"""The one way this package writes files: atomically, with the permissions the user's umask asks for.

Every output (tables, JSON, cards, rasters, plots, exports) is written to a temporary name in the
destination folder and renamed into place, so an interrupted run never leaves a half-written file.
``tempfile.mkstemp``/``mkdtemp`` create private files (0600) and folders (0700) whatever the umask;
left as they are, outputs that users share (a group-readable ``outputs/`` folder, a lab server)
become unreadable to everyone else. So the temp file is set to ``0o666 & ~umask`` (folders
``0o777 & ~umask``) before the rename: exactly what ``open()``/``mkdir`` would have created.

* :func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`atomic_write_json`: whole content
  in memory.
* :func:`atomic_path`: a context manager yielding a temporary path for writers that need a path
  (rasterio, matplotlib, ``np.save``); renamed into place when the block exits cleanly, removed
  otherwise.
* :func:`make_temp_dir`: a temporary folder with ordinary permissions, for writers that assemble
  a whole folder and rename it (``euromine export``).

Durability: a file is ``fsync``-ed before its rename and the folder holding the new name after it
(:func:`replace_folder` syncs every file and folder of the new tree first), so a write that has
returned survives a power loss; without the syncs a crash can leave the new name pointing at an
empty file on ext4/XFS.

Faults: a write the file system refuses (read-only, full, no permission, quota) raises
:class:`WriteError`, an ``OSError`` whose message names the file and the reason; ``euromine``
reports it as one line and exit 2. :func:`writing` gives third-party writers (datasets, pyarrow,
the Trainer) the same message where their own error names no file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "current_umask",
    "file_mode",
    "dir_mode",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "make_temp_dir",
    "replace_folder",
    "WRITE_ERRNOS",
    "WriteError",
    "write_fault",
    "writing",
    "fsync_path",
    "sync_tree",
]

#: errno values that mean "the file system refused a write": the user's disk, mount or permissions,
#: not a bug in the program.
WRITE_ERRNOS = frozenset(
    code for code in (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO)
)


class WriteError(OSError):
    """A write the file system refused; ``str()`` is ``cannot write PATH: REASON``."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def write_fault(error: BaseException) -> OSError | None:
    """The first ``OSError`` with a :data:`WRITE_ERRNOS` errno in ``error``'s cause/context chain.

    Libraries wrap the file system's refusal (datasets' ``DatasetGenerationError``, rasterio's
    "Write failed"), so the chain, not the top exception, says whether a write failed.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno in WRITE_ERRNOS:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextmanager
def writing(target: str | os.PathLike[str]) -> Iterator[None]:
    """Raise a write fault inside the block as :class:`WriteError` naming its file, or ``target``
    (the file or folder being written) where the fault names none."""
    try:
        yield
    except WriteError:
        raise
    except Exception as error:
        fault = write_fault(error)
        if fault is not None:
            name = fault.filename if fault.filename is not None else os.fspath(target)
            raise WriteError(fault.errno, fault.strerror or os.strerror(fault.errno), name) from error
        if isinstance(error, OSError) and error.errno is None:
            # a library's own I/O error without an errno (GDAL: "Write failed. See previous
            # exception"): the file system's state says why, where it can
            code = _diagnose(Path(target))
            if code is not None:
                raise WriteError(code, os.strerror(code), os.fspath(target)) from error
        raise


def _diagnose(target: Path) -> int | None:
    """``ENOSPC``/``EROFS`` when the file system holding ``target`` is full or read-only, else None."""
    folder = target if target.is_dir() else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & getattr(os, "ST_RDONLY", 1):
        return errno.EROFS
    if st.f_bavail == 0 or st.f_favail == 0:
        return errno.ENOSPC
    return None


def fsync_path(path: str | os.PathLike[str]) -> None:
    """``fsync`` a file or a folder by path (a folder's sync makes the names in it durable).

    File systems that cannot sync a folder answer ``EINVAL``/``ENOTSUP``; nothing more can be done
    there, so that answer is not an error.
    """
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) and hasattr(os, "O_DIRECTORY") else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable read is set-and-restore
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode a new file gets from ``open()``: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode a new folder gets from ``mkdir``: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it gets ordinary permissions and is
    renamed to ``path``, on any error it is removed.

    The temporary name keeps ``path``'s extension last (``.x.png.k3j2.tmp.png``) so writers that
    pick a format from the name (matplotlib) see the right one; ``suffix`` overrides it.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
    tmp = Path(name)
    try:
        with writing(path):
            yield tmp
            fsync_path(tmp)  # while still the owner's 0600: the umask's mode may not allow reading
            os.chmod(tmp, file_mode())
            os.replace(tmp, path)
            fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8", newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (``newline=""`` writes line endings as given)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding=encoding, newline=newline) as fh:
        fh.write(text)
    return path


def atomic_write_json(path: str | os.PathLike[str], payload: Any, indent: int | None = 2, **dump_kwargs: Any) -> Path:
    """Write ``payload`` as JSON (with a final newline) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=indent, **dump_kwargs) + "\n")


def make_temp_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` with ordinary (umask) permissions."""
    with writing(parent):
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        os.chmod(tmp, dir_mode())
    return tmp


def sync_tree(root: str | os.PathLike[str], parent: bool = False) -> None:
    """Sync every file and folder under ``root`` (folders after their contents), then ``root``, and
    with ``parent`` the folder holding it: for trees other libraries wrote (``save_pretrained``)."""
    with writing(root):
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    fsync_path(path)
            fsync_path(dirpath)
        if parent:
            fsync_path(Path(root).resolve().parent)


def replace_folder(new: str | os.PathLike[str], dest: str | os.PathLike[str], aside_prefix: str | None = None) -> Path:
    """Rename the finished folder ``new`` to ``dest``. An existing ``dest`` is first renamed aside
    (``.{name}.old-XXXX`` beside it), restored if the swap fails, and removed only once ``new`` is
    in place, so at every moment one complete folder exists under one of the two names. The new
    tree is synced before the swap and the parent folder after it (see the module's note)."""
    new, dest = Path(new), Path(dest)
    with writing(dest):
        sync_tree(new)
        if not dest.exists():
            os.replace(new, dest)
            fsync_path(dest.parent)
            return dest
        aside = dest.parent / f"{aside_prefix or f'.{dest.name}.old-'}{secrets.token_hex(4)}"
        os.replace(dest, aside)
        try:
            os.replace(new, dest)
        except BaseException:
            os.replace(aside, dest)
            raise
        fsync_path(dest.parent)
    shutil.rmtree(aside, ignore_errors=True)
    return dest
