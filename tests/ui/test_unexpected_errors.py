"""An error the dashboard did not expect: a bare 500 with the headers, and a masked log.

Starlette answers such an error outside every middleware, and the web server logs its
traceback: the answer carried none of the security headers, and the log quoted the
error's text as it was, a store's password included.
"""

from __future__ import annotations

import logging

import requests
from bounds import TIMEOUT
from ui_browser import Served

import dashboard  # examples/dashboard.py
from actors.ui import create_app

SECRET = "Unexp3cted-Hunter-77"


class Lines(logging.Handler):
    """The lines a logger writes, formatted (its tracebacks included)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_an_unexpected_error_answers_500_with_the_headers_and_is_logged_masked(store):
    app = create_app(store, dashboard.WORKFLOWS)

    def broken(case_id: str) -> None:
        msg = f"lost postgresql://app:{SECRET}@db/jobs while reading {case_id}"
        raise RuntimeError(msg)

    app.state.dashboard._case = broken
    served = Served(app)
    logged = Lines()
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(logged)
    try:
        answer = requests.get(f"{served.url}/cases/parcel-2", timeout=TIMEOUT)
    finally:
        served.stop()
        server_log.removeHandler(logged)
    assert answer.status_code == 500
    assert answer.text == "Internal Server Error"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    text = "\n".join(logged.lines)
    assert "RuntimeError: lost postgresql://app:***@db/jobs" in text, text
    assert SECRET not in text
