"""Job files under ``<data_dir>/jobs/<job id>/``: atomic result and artifacts.

A worker writes into ``attempt-<n>.tmp/``, writes ``result.json`` there, fsyncs, and renames
the directory to ``output/`` before it marks the job succeeded, so a succeeded job always has
a complete output directory. A killed attempt leaves its directory with the job's checkpoint;
the next attempt of a design job takes it over (:func:`resume_attempt_dir`) and continues from
the last saved step. Every attempt directory is removed when the job ends.
"""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.core.db import private_dir

RESULT_FILE = "result.json"
_MEDIA_TYPES = {".png": "image/png", ".json": "application/json", ".csv": "text/csv", ".txt": "text/plain",
                ".svg": "image/svg+xml", ".npz": "application/octet-stream"}


def job_dir(settings: Settings, job_id: str) -> Path:
    return settings.jobs_dir / job_id


def output_dir(settings: Settings, job_id: str) -> Path:
    return job_dir(settings, job_id) / "output"


#: Files a design job keeps in its working directory to resume from (``designer.jobs.run_job``
#: reads them back): the search state after each step, and the finished design while its
#: validation runs.
CHECKPOINT_FILES = ("design_state.json", "design_result.json")


def _attempt_number(path: Path) -> int | None:
    stem = path.name.removesuffix(".tmp").removeprefix("attempt-")
    return int(stem) if path.name.startswith("attempt-") and path.name.endswith(".tmp") and stem.isdigit() else None


def has_checkpoint(path: Path) -> bool:
    return any((path / name).is_file() for name in CHECKPOINT_FILES)


def attempt_dir(settings: Settings, job_id: str, attempt: int, *, resume: bool) -> tuple[Path, int | None]:
    """The working directory of ``attempt`` (owner-only), and the attempt it resumes, if any.

    With ``resume``, the newest earlier ``attempt-<k>.tmp`` holding a checkpoint is renamed to
    this attempt's directory, so the job continues from its last saved step, and ``k`` is
    returned; without, or when no checkpoint was left, the directory starts empty (None).
    Other attempt directories are removed.
    """
    path = job_dir(settings, job_id) / f"attempt-{attempt}.tmp"
    if not resume:
        remove_attempts(settings, job_id)
    earlier = sorted(
        ((n, p) for p in job_dir(settings, job_id).glob("attempt-*.tmp")
         if (n := _attempt_number(p)) is not None and n != attempt),
        reverse=True,
    )
    resumed = None
    if path.is_dir():  # this attempt was claimed before but the claim did not commit: keep it
        resumed = attempt if has_checkpoint(path) else None
    elif earlier and has_checkpoint(earlier[0][1]):
        resumed, previous = earlier.pop(0)
        os.rename(previous, path)
    for _, stale in earlier:
        shutil.rmtree(stale, ignore_errors=True)
    private_dir(path)
    return path, resumed


def remove_attempts(settings: Settings, job_id: str) -> None:
    """Remove every attempt directory of a job (it has ended: nothing will resume from them)."""
    for path in job_dir(settings, job_id).glob("attempt-*.tmp"):
        shutil.rmtree(path, ignore_errors=True)


def media_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(settings: Settings, job_id: str, workdir: Path, result: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Write ``result.json``, fsync everything, and atomically move ``workdir`` to ``output/``.

    Only plain files directly inside ``workdir`` are published; returns their descriptions.
    """
    artifacts = []
    # The job's own result.json (designer.jobs lists it) is replaced by the result document below.
    for name in (n for n in names if n != RESULT_FILE):
        path = workdir / name
        if Path(name).name != name or not path.is_file():
            raise ValueError(f"artifact {name!r} is not a file written into the job directory")
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        artifacts.append({"name": name, "media_type": media_type(name), "size_bytes": path.stat().st_size})
    with open(workdir / RESULT_FILE, "w", encoding="utf-8") as fh:
        json.dump(result, fh, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(workdir)
    final = output_dir(settings, job_id)
    if final.exists():  # a previous attempt published but died before marking success
        shutil.rmtree(final)
    os.rename(workdir, final)
    _fsync_dir(final.parent)
    remove_attempts(settings, job_id)  # directories of earlier attempts, if any are left
    return artifacts


def read_result(settings: Settings, job_id: str) -> dict[str, Any]:
    with open(output_dir(settings, job_id) / RESULT_FILE, encoding="utf-8") as fh:
        return json.load(fh)
