"""What a log line may say about a failure.

Exception messages name things: nio's "No such room with id !abc:example.org", an HTTP
error's URL with a room id in its path, a database error quoting a value. Our log lines
name nobody (see bot.cli), so a failure is logged by its type, and its HTTP status or
Matrix errcode where it has one. The message and the traceback are logged only when the
operator asked for everything with ``--debug-unredacted`` (bot.cli sets ``UNREDACTED``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

UNREDACTED = False
"""Set by ``undersign run --debug-unredacted``: tracebacks and exception texts are logged."""

_ERRCODE = re.compile(r"M_[A-Z_]{1,40}")


def fault(exc: BaseException) -> str:
    """The exception's type, plus an HTTP status or errcode it carries: never its text."""
    said = type(exc).__name__
    status = getattr(exc, "status", None)
    if isinstance(status, int) and not isinstance(status, bool):
        said += f", HTTP {status}"
    errcode = getattr(exc, "errcode", None) or getattr(exc, "status_code", None)
    if isinstance(errcode, str) and _ERRCODE.fullmatch(errcode):
        said += f", {errcode}"
    return said


def trace(exc: BaseException) -> BaseException | None:
    """``exc_info`` for a log call: the traceback only in the unredacted mode."""
    return exc if UNREDACTED else None


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers (``undersign run --log-format json``): the
    same messages as the text format, so the same redaction holds; a traceback only where
    the record carries one, which is only in the unredacted mode."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
