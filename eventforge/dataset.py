"""The dataset directory: refusing unsafe outputs, locking, resuming, committing, reading back.

A dataset is a directory of parts (``point=P/rep-RRRRR.parquet``, see
:mod:`eventforge.sinks.parquet`) plus three files of our own::

    _plan.json        fingerprint of the scenario and the plan; written before any part, so a
                      crashed run is recognisable as ours and ``--resume`` can check it is resuming
                      the same scenario
    .eventforge.lock  pid and host of the run writing the directory
    _manifest.json    the parts with row counts and checksums; written last, atomically. Without
                      it the dataset is incomplete and :func:`open_dataset` refuses it.

Only the parent process calls :meth:`DatasetDir.prepare` and :meth:`DatasetDir.commit`; worker
processes write their own parts with ``ParquetPartSink`` in between. Names starting with ``_`` or
``.`` are skipped by pyarrow and pandas when they discover the dataset's files.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from eventforge.errors import DatasetIncompleteError, OutputLockedError, SinkError, UsageError
from eventforge.sinks.base import PartInfo, dumps_json, parse_part_relpath, write_atomic
from eventforge.sinks.parquet import read_part_info

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = [
    "FORMAT",
    "LOCK",
    "MANIFEST",
    "PLAN",
    "DatasetDir",
    "open_dataset",
    "read_manifest",
    "read_table",
]

#: The manifest's format tag; a reader refuses formats it does not know.
FORMAT = "eventforge-dataset/1"
MANIFEST = "_manifest.json"
LOCK = ".eventforge.lock"
PLAN = "_plan.json"

_POINT_DIR = re.compile(r"point=\d+")
_PART = re.compile(r"rep-\d{5,}\.parquet")
_TEMP_PART = re.compile(r"\.rep-\d{5,}\.parquet\.tmp-\d+")
# Temporary files of write_atomic for the manifest and the plan.
_TEMP_JSON = re.compile(rf"\.({re.escape(MANIFEST)}|{re.escape(PLAN)})\.tmp-\d+")


class DatasetDir:
    """One output directory, prepared for a run and committed at its end.

    ``prepare`` takes the directory's lock; ``commit`` (success) or ``release`` (failure) gives it
    back. Usable as a context manager that releases the lock on the way out.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locked = False

    def __enter__(self) -> DatasetDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- prepare ------------------------------------------------------------------------------

    def prepare(
        self, *, fingerprint: str, plan: dict[str, Any], overwrite: bool, resume: bool
    ) -> dict[tuple[int, int], PartInfo]:
        """Make the directory ready for a run; return the parts a resumed run can keep.

        Every refusal happens before anything is written: an existing file at ``root``, an
        unwritable location, a non-empty directory that is not an eventforge dataset (refused even
        with ``overwrite``: a user's folder is never wiped), an existing dataset without
        ``overwrite`` or ``resume``, a resume whose fingerprint differs from the plan's, a lock
        held by a live process (:class:`OutputLockedError`). A lock whose process is dead (a run
        killed with SIGKILL) is taken over.

        Then ``overwrite`` deletes the old dataset's files (only names eventforge writes), and
        ``resume`` deletes temporary and unreadable parts and the manifest and returns the
        committed parts, ``{(point, replication): PartInfo}``, rebuilt from their footers; it may
        include parts outside the new plan, which the caller ignores. ``_plan.json`` is then
        (re)written with ``fingerprint`` and ``plan``.
        """
        if overwrite and resume:
            raise UsageError("--overwrite and --resume cannot be used together")
        is_dataset = self._check_location()
        if is_dataset and not (overwrite or resume):
            raise SinkError(
                f"{self.root}: already holds a dataset; use --overwrite to replace it "
                "or --resume to finish it"
            )
        if is_dataset and resume:
            self._check_fingerprint(fingerprint)
        self.root.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            committed: dict[tuple[int, int], PartInfo] = {}
            if is_dataset and resume:
                # Checked again under the lock: a run that ended meanwhile may have replaced it.
                self._check_fingerprint(fingerprint)
                committed = self._keep_committed_parts()
            elif is_dataset:
                self._remove_dataset_files()
            write_atomic(self.root / PLAN, dumps_json({"fingerprint": fingerprint, "plan": plan}))
        except BaseException:
            self.release()
            raise
        return committed

    def _check_location(self) -> bool:
        """Refuse an unusable ``root``; return whether it holds an eventforge dataset."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise SinkError(f"{root}: exists and is not a directory")
        if not root.exists():
            ancestor = root.parent
            while not ancestor.exists():
                ancestor = ancestor.parent
            if not ancestor.is_dir():
                raise SinkError(f"{root}: cannot be created, {ancestor} is not a directory")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise SinkError(f"{root}: cannot be created, {ancestor} is not writable")
            return False
        if not os.access(root, os.W_OK | os.X_OK):
            raise SinkError(f"{root}: directory is not writable")
        # A lone lock is ours (a run that died before writing its plan, or one starting now):
        # the lock check decides.
        entries = set(os.listdir(root)) - {LOCK}
        if not entries:
            return False
        if MANIFEST in entries or PLAN in entries:
            return True
        raise SinkError(
            f"{root}: is not empty and is not an eventforge dataset (no {MANIFEST} or {PLAN}); "
            "refusing to write into it, even with --overwrite; choose another output directory"
        )

    def _check_fingerprint(self, fingerprint: str) -> None:
        path = self.root / PLAN
        try:
            found = json.loads(path.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SinkError(
                f"{path}: cannot resume, the plan is missing or unreadable "
                f"({type(e).__name__}); use --overwrite to start again"
            ) from e
        if found != fingerprint:
            raise SinkError(
                f"{path}: cannot resume, the scenario changed since this dataset was started "
                f"(fingerprint {found!r}, now {fingerprint!r}); use --overwrite to start again"
            )

    # --- lock ---------------------------------------------------------------------------------

    def _acquire_lock(self) -> None:
        """Create the lock file exclusively, taking over a stale one (its process is dead).

        Two runs taking over the same stale lock in the same instant could both succeed; a live
        lock is never taken, which is the case that matters (two runs started one after another).
        """
        path = self.root / LOCK
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(path)
                if holder is None or _alive(holder):
                    who = "an unreadable lock" if holder is None else _describe(holder)
                    raise OutputLockedError(
                        f"{path}: the output directory is in use ({who}); if no run is using "
                        "it, delete this file"
                    ) from None
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(dumps_json(me))
                f.flush()
                os.fsync(f.fileno())
            self._locked = True
            return
        raise OutputLockedError(f"{path}: another run keeps taking the lock")

    def release(self) -> None:
        """Remove our lock (failure paths; ``commit`` releases by itself); idempotent."""
        if self._locked:
            (self.root / LOCK).unlink(missing_ok=True)
            self._locked = False

    # --- overwrite and resume -----------------------------------------------------------------

    def _point_dirs(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if p.is_dir() and _POINT_DIR.fullmatch(p.name))

    def _remove_temp_files(self) -> None:
        for p in self.root.iterdir():
            if _TEMP_JSON.fullmatch(p.name):
                p.unlink()
        for d in self._point_dirs():
            for p in d.iterdir():
                if _TEMP_PART.fullmatch(p.name):
                    p.unlink()

    def _remove_dataset_files(self) -> None:
        """Delete the files eventforge wrote, and then-empty point directories; nothing else.

        The manifest goes first (the dataset is incomplete from then on) and the plan is only
        replaced afterwards, so a crash midway still leaves a directory recognised as ours.
        """
        (self.root / MANIFEST).unlink(missing_ok=True)
        self._remove_temp_files()
        for d in self._point_dirs():
            for p in d.iterdir():
                if _PART.fullmatch(p.name):
                    p.unlink()
            if not any(d.iterdir()):
                d.rmdir()

    def _keep_committed_parts(self) -> dict[tuple[int, int], PartInfo]:
        """Drop the manifest and temporary files; return the readable parts, delete the rest."""
        (self.root / MANIFEST).unlink(missing_ok=True)
        self._remove_temp_files()
        committed: dict[tuple[int, int], PartInfo] = {}
        for d in self._point_dirs():
            for p in sorted(d.iterdir()):
                if not _PART.fullmatch(p.name):
                    continue
                try:
                    info = read_part_info(self.root, f"{d.name}/{p.name}")
                except SinkError:
                    p.unlink()  # truncated or foreign: it will be written again
                    continue
                committed[(info.point, info.replication)] = info
        return committed

    # --- commit -------------------------------------------------------------------------------

    def commit(self, header: dict[str, Any], parts: Sequence[PartInfo]) -> Path:
        """Write ``_manifest.json`` (which makes the dataset complete) and release the lock.

        The manifest is ``{**header, "parts": [...], "rows": total}`` with parts sorted by
        (point, replication), as deterministic JSON; it is written atomically and last.
        """
        if not self._locked:
            raise RuntimeError("commit() without a successful prepare()")
        ordered = sorted(parts, key=lambda p: (p.point, p.replication))
        keys = [(p.point, p.replication) for p in ordered]
        if len(set(keys)) != len(keys):
            raise RuntimeError("commit() got the same (point, replication) twice")
        manifest = {
            **header,
            "parts": [p.to_json() for p in ordered],
            "rows": sum(p.rows for p in ordered),
        }
        path = self.root / MANIFEST
        write_atomic(path, dumps_json(manifest))
        self.release()
        return path


def _read_lock(path: Path) -> dict[str, Any] | None:
    """The lock's ``{"host", "pid"}``; ``None`` if it is unreadable (being written, or damaged)."""
    try:
        holder = json.loads(path.read_text())
        return {"host": str(holder["host"]), "pid": int(holder["pid"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the lock's process may still run; a process on another host counts as alive."""
    if holder["host"] != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _describe(holder: dict[str, Any]) -> str:
    return f"locked by pid {holder['pid']} on {holder['host']}"


# --- reading ----------------------------------------------------------------------------------


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of a committed dataset, after checking its parts exist with their sizes.

    Raises :class:`DatasetIncompleteError` if the manifest is missing (a crashed or running
    write) or invalid, or a listed part is missing or has another size.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetIncompleteError(
            f"{root}: no {MANIFEST}: the dataset is incomplete (crashed or still being written); "
            "finish it with --resume"
        )
    try:
        manifest = json.loads(path.read_text())
        parts = [PartInfo.from_json(p) for p in manifest["parts"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetIncompleteError(f"{path}: invalid manifest ({type(e).__name__}: {e})") from e
    for part in parts:
        file = Path(root) / part.path
        if parse_part_relpath(part.path) is None:
            raise DatasetIncompleteError(f"{path}: invalid part path {part.path!r}")
        if not file.is_file():
            raise DatasetIncompleteError(f"{file}: listed in {MANIFEST} but missing")
        if file.stat().st_size != part.bytes:
            raise DatasetIncompleteError(
                f"{file}: {file.stat().st_size} bytes, {MANIFEST} says {part.bytes}"
            )
    return manifest


def open_dataset(root: Path) -> ds.Dataset:
    """A pyarrow dataset over exactly the manifest's parts, with ``point`` as a column.

    Refuses an incomplete dataset (:class:`DatasetIncompleteError`); files not listed in the
    manifest (a part a crashed run left behind) are not read.
    """
    # Imported here: pyarrow.dataset imports pandas (~0.35 s), which the commands that only
    # read scenarios (list, validate, --help) never need.
    import pyarrow.dataset as ds

    root = Path(root)
    manifest = read_manifest(root)
    return ds.dataset(
        [str(root / p["path"]) for p in manifest["parts"]],
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("point", pa.int32())]), flavor="hive"),
        partition_base_dir=str(root),
    )


def read_table(
    root: Path, columns: list[str] | None = None, filter: ds.Expression | None = None
) -> pa.Table:
    """The committed dataset as one table, parts in (point, replication) order."""
    return open_dataset(root).to_table(columns=columns, filter=filter)
