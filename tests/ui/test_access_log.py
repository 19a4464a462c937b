"""The access token never reaches a log: ``actors ui`` run as a real server, at INFO.

Signing in puts the token in the address (``/?token=TOKEN``), and the web server's access
log writes each request's address: the token must show there as ``***``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from bounds import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Access-Token-5e1f0c9a7d"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_the_access_log_masks_the_token(shipments):
    command = [sys.executable, "-m", "actors", "ui", "--store", shipments, "--port", "0",
               "--log-level", "info"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACTORS_UI_TOKEN": TOKEN}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        seen = []
        for line in server.stderr:
            seen.append(line)
            running = re.search(r"dashboard of .* on (http://\S+)", line)
            if running:
                break
        assert running, "".join(seen)
        base = running.group(1).rstrip("/")
        _get(f"{base}/?token={TOKEN}")  # signs in (and follows the redirect, cookieless)
        _get(f"{base}/cases/parcel-2?x=1&token={TOKEN}")
        _get(f"{base}/?token=Wrong-Guess-0123456789")
        # The server decodes a parameter's name: "%74oken" signs in as "token" does, and
        # the log writes the address as sent, the token's dashes as %2D.
        encoded = TOKEN.replace("-", "%2D")
        _get(f"{base}/?%74oken={encoded}")  # signs in: 303
        _get(f"{base}/?TOK%45N={encoded}")
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=TIMEOUT)
    log = "".join(seen) + err + out
    assert '"GET /?token=*** HTTP/1.1" 303' in log, log
    assert "/cases/parcel-2?x=1&token=***" in log, log
    assert '"GET /?%74oken=*** HTTP/1.1" 303' in log, log
    assert TOKEN not in log and TOKEN[:12] not in log and "5e1f0c9a7d" not in log, log
    assert "Wrong-Guess" not in log, log


def test_port_0_is_shown_as_the_port_the_dashboard_listens_on(shipments):
    command = [sys.executable, "-m", "actors", "ui", "--store", shipments, "--port", "0",
               "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        shown = re.search(r" on (http://127\.0\.0\.1:(\d+)/)", line)
        assert shown and shown.group(2) != "0", line
        assert _get(shown.group(1)) == 200
        taken = subprocess.run(
            [*command[:-4], "--port", shown.group(2)], env=env, capture_output=True, text=True,
            timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert taken.returncode == 2
        assert f"cannot listen on 127.0.0.1:{shown.group(2)}" in taken.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=TIMEOUT)
