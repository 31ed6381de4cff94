"""How the server logs: plain text lines or one JSON object a line (`log_format`), each line of a job carrying the
job, its repository and pull request, and every line masked (`masking.mask_logs`).

The job's fields travel in a context variable that the worker sets around a job, so no call site passes them;
python-json-logger writes the JSON.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class JobFields:
    job: int
    kind: str
    repository: str  # forge:owner/name
    pull_request: int | None  # None for a branch's job


_current: contextvars.ContextVar[JobFields | None] = contextvars.ContextVar("kpops_bot_job", default=None)


def fields_of(job_id: int, kind: str, key: str) -> JobFields:
    """The fields of a job from its key (`forge:owner/name#number` or `forge:owner/name@branch`)."""
    repository, hash_sign, number = key.partition("#")
    if hash_sign and number.isdigit():
        return JobFields(job_id, kind, repository, int(number))
    return JobFields(job_id, kind, key.partition("@")[0], None)


@contextmanager
def job_context(fields: JobFields) -> Iterator[None]:
    """Every line logged inside, in this thread, names the job."""
    token = _current.set(fields)
    try:
        yield
    finally:
        _current.reset(token)


class JobFieldsFilter(logging.Filter):
    """Adds the running job's fields to a record (attributes the JSON formatter writes out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _current.get()
        if fields is not None:
            record.job = fields.job
            record.job_kind = fields.kind
            record.repository = fields.repository
            record.pull_request = fields.pull_request
        return True


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format is LogFormat.TEXT:
        return logging.Formatter(_TEXT)
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"},
    )


def handler(log_format: LogFormat, stream: TextIO) -> logging.Handler:
    """A handler writing to `stream` in `log_format`, with the running job's fields."""
    result = logging.StreamHandler(stream)
    result.setFormatter(formatter(log_format))
    result.addFilter(JobFieldsFilter())
    return result


def configure(log_format: LogFormat) -> None:
    """One handler on the root logger, to stderr; uvicorn's loggers propagate to it (see `Bot.serve`)."""
    root = logging.getLogger()
    root.handlers[:] = [handler(log_format, sys.stderr)]
    root.setLevel(logging.INFO)
