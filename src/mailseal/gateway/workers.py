"""Worker processes for the policy pipeline (``gateway.worker_processes``): signing, encryption, decryption and
verification on every core, while the SMTP side stays in the main process's event loop.

Each worker builds its own pipeline from the settings (its own store connections, keys and caches). A job carries
the message (bytes when small, else a file in the spool) and returns the copies as files in the spool, which the
main process opens, unlinks and delivers. Everything crossing the process boundary is plain data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..policy import Decision
from .outcome import Outcome, Outgoing, Processed
from .parts import build_resources
from .pipeline import Pipeline

IN_JOB = 4 << 20  # messages up to this size travel inside the job; larger ones as a spool file

_pipeline: Pipeline | None = None


@dataclass(frozen=True)
class Job:
    mail_from: str
    recipients: tuple[str, ...]
    size: int
    may_sign: bool
    may_notify: bool
    digest: str
    data: bytes | None = None
    path: str | None = None


@dataclass(frozen=True)
class CopyFile:
    recipients: tuple[str, ...]
    path: str
    outcome: Outcome
    sender: str | None


@dataclass(frozen=True)
class JobResult:
    copies: tuple[CopyFile, ...]
    held: tuple[str, ...]
    decision: Decision
    message_id: str


def init_worker(settings: Mapping[str, Any]) -> None:
    """Process initializer: open the store, unlock the keys, build the pipeline."""
    global _pipeline
    gateway, policy, resources = build_resources(settings)
    _pipeline = Pipeline(policy, resources, hostname=gateway.hostname, spool_dir=gateway.spool_dir,
                         held_dir=gateway.held_dir, harvest=gateway.harvest, limits=gateway.limits)


def run_job(job: Job) -> JobResult:
    assert _pipeline is not None, "worker not initialised"
    if job.data is not None:
        data = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=IN_JOB + 1))  # noqa: SIM115 (closed below)
        data.write(job.data)
    else:
        assert job.path is not None
        data = open(job.path, "rb")  # noqa: SIM115 (closed below)
    try:
        outcome = _pipeline.process(job.mail_from, list(job.recipients), data, job.size, may_sign=job.may_sign,
                                    digest=job.digest, may_notify=job.may_notify)
    finally:
        data.close()
    copies: list[CopyFile] = []
    try:
        for out in outcome.outgoing:
            fd, path = tempfile.mkstemp(dir=_pipeline.spool_dir, prefix="copy-")
            with os.fdopen(fd, "wb") as f:
                out.file.seek(0)
                shutil.copyfileobj(out.file, f, 1 << 20)
            copies.append(CopyFile(out.recipients, path, out.outcome, out.sender))
    except BaseException:
        for c in copies:
            Path(c.path).unlink(missing_ok=True)
        raise
    finally:
        outcome.close()
    return JobResult(tuple(copies), outcome.held, outcome.decision, outcome.message_id)


def job_for(mail_from: str, recipients: list[str], data: BinaryIO, size: int, *, may_sign: bool, may_notify: bool,
            digest: str, spool_dir: Path) -> Job:
    data.seek(0)
    if size <= IN_JOB:
        return Job(mail_from, tuple(recipients), size, may_sign, may_notify, digest, data=data.read())
    fd, path = tempfile.mkstemp(dir=spool_dir, prefix="in-")
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(data, f, 1 << 20)
    return Job(mail_from, tuple(recipients), size, may_sign, may_notify, digest, path=path)


def outcome_of(result: JobResult) -> Processed:
    """The copies as open files; their names are unlinked at once (the open files stay readable)."""
    outgoing = []
    for c in result.copies:
        f = open(c.path, "rb")  # noqa: SIM115 (closed by Outcome.close)
        os.unlink(c.path)
        outgoing.append(Outgoing(c.recipients, cast(BinaryIO, f), c.outcome, c.sender))
    return Processed(tuple(outgoing), result.held, result.decision, result.message_id)


__all__ = ["IN_JOB", "Job", "JobResult", "init_worker", "job_for", "outcome_of", "run_job"]
