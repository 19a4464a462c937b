"""A real headless Chromium (Debian's) driven by Playwright, and a dashboard served to it.

The browser runs with the network closed to it: every request that is not to the
dashboard itself is aborted and recorded, so a test can prove a page fetched nothing
from elsewhere.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from bounds import TIMEOUT

CHROMIUM = Path(os.environ.get("ACTORS_CHROMIUM", "/usr/bin/chromium"))
# No sandbox (CI runs as root), nothing reaching out (the network is closed), a fresh
# profile per run (the user-data-dir the fixture makes).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need_chromium() -> None:
    """Skip without Chromium on a developer's machine; fail in CI, which installs it."""
    if CHROMIUM.exists():
        return
    msg = f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


class Served:
    """An ASGI app served by uvicorn on a thread, on a port of 127.0.0.1 it bound first.

    The socket listens before the thread starts, so a request made at once waits in
    the backlog instead of failing: there is nothing to wait for.
    """

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="dashboard"
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(TIMEOUT)
        self._socket.close()
        assert not self._thread.is_alive(), "the dashboard's server did not stop"


class Browser:
    """A Chromium profile and what it tried to fetch from elsewhere, and page errors."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._only_here)

    def _only_here(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def page(self) -> Any:
        """A new tab that accepts every confirmation dialog and records script errors."""
        page = self.context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


@contextmanager
def chromium(profile: Path) -> Iterator[Browser]:
    """Debian's Chromium, headless, with a fresh profile in ``profile``."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield Browser(context)
        finally:
            context.close()
