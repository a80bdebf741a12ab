"""Safe file writing: a reader never sees a half-written file.

Every artifact of the kit (dataset caches, executed notebooks, reports, checkpoints) is written to a
temporary file in the destination folder and moved into place with `os.replace`, which is atomic on
POSIX file systems. An interrupted write leaves the old file (or nothing), never a truncated one.
Reading back, zip archives (checkpoints) and recorded SHA-256 sums are verified; a folder that one
writer at a time may change is held with `directory_lock`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Iterator

from course_lib.checks import check_choice

LOCK_FILE = ".lock"
CHECKOUT = Path(__file__).resolve().parents[1]  # the folder of pyproject.toml, notebooks/ and data/


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on success move it onto `path`."""
    check_choice("mode", mode, ("w", "wb"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_of_file(path: str | os.PathLike, chunk_bytes: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def check_zip_integrity(path: str | os.PathLike) -> None:
    """Raise ValueError naming `path` when a zip archive (what `torch.save` writes) fails its CRC-32 checks.

    `torch.load` reads the stored tensors without checking their CRCs, so a flipped byte inside a
    weight would load silently; every member's CRC is verified here first (about 1 GB/s)."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is truncated or not a checkpoint ({type(error).__name__}: {error})") from None
    if damaged is not None:
        raise ValueError(f"{path} is damaged: its member {damaged!r} fails its CRC-32 check")


def check_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise ValueError naming `path` when the file is missing or its SHA-256 differs from `expected`."""
    if not Path(path).is_file():
        raise ValueError(f"{path} is missing")
    if sha256_of_file(path) != expected:
        raise ValueError(f"{path} is damaged: its SHA-256 differs from the one recorded for it")


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike, what: str = "folder") -> Iterator[None]:
    """Hold an exclusive lock on `directory` (its `.lock` file) or raise ValueError when another holder has it.

    An advisory `flock`: two processes (or two calls in one process) writing one run folder cannot
    interleave; the lock goes when its holder ends, even by kill -9."""
    import fcntl

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{directory} is in use: another process is writing this {what}; "
                             "wait for it to finish or choose another folder") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def checkout_commit() -> str:
    """The commit the checkout is at (git rev-parse HEAD), or "unknown" outside a git checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
