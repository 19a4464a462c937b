"""One JSON object per log record, for log collectors (``actors worker --log-format json``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON.

    Keys: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the job's
    ``job_id``, ``step`` and ``attempt`` when the engine logged about a job, and
    ``traceback`` when the record carries an exception.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("job_id", "step", "attempt"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        # exc_text is what the handler's RedactingFilter masked and escaped; formatted
        # again from exc_info, the traceback would show the passwords it hid.
        if record.exc_text:
            out["traceback"] = record.exc_text
        elif record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)
