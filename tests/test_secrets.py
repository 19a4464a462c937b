"""No command prints a store's password: not in output, errors, logs or tracebacks.

Every command runs with a sentinel password in its store URL (in the user info, as a
``?password=`` parameter, and taken from ``ACTORS_STORE``), against a server that is not
there and against a live one; the sentinel must never appear in stdout, stderr or the
log records. The worker also runs as a real process until a signal stops it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

import actors._cases
import actors._redact
from actors import JobState, Mediator, Sequential, StoreError, Workflow
from actors._cli import main
from actors._redact import URL_EXAMPLE, mask_secrets, mask_url, remember_secrets
from actors.stores import open_store

SENTINEL = "Sentinel-Pw-7f3a9c"

FLOWS = """
    from actors import Sequential, Workflow

    FLOW = Workflow("flow", [Sequential("a", lambda data: None)], start="a")
"""

UNREACHABLE = [
    f"postgresql://actors:{SENTINEL}@127.0.0.1:1/jobs",
    f"postgresql://actors@127.0.0.1:1/jobs?password={SENTINEL}",
    f"postgres://actors:{SENTINEL}@127.0.0.1:1/jobs?connect_timeout=1",
    f"postgresql://actors:{SENTINEL}@127.0.0.1:notaport/jobs",
    f"postgresql://actors:{SENTINEL}%zz@127.0.0.1:1/jobs",  # a malformed escape
    f"postgresql://actors:{SENTINEL}@127.0.0.1:1/jobs?nosuchoption=1",
    f"nosuch://actors:{SENTINEL}@host/jobs",
    f"sqlite://actors:{SENTINEL}@host/jobs.db",
    # Mistyped: a slash or a colon missing, a third slash, no scheme at all.
    f"postgresql:/actors:{SENTINEL}@127.0.0.1:1/jobs",
    f"postgresql//actors:{SENTINEL}@127.0.0.1:1/jobs",
    f"postgresql:///actors:{SENTINEL}@127.0.0.1:1/jobs",
    f"actors:{SENTINEL}@127.0.0.1:1/jobs",
    f"actors:{SENTINEL}@127.0.0.1://jobs",
]


def _commands(module: str, url: str) -> list[list[str]]:
    """Every command that takes a store, with ``url``."""
    return [
        ["status", "--store", url],
        ["jobs", "show", "nosuchjob", "--store", url],
        ["enqueue", "flow", "--workflows", module, "--data", "{}", "--store", url],
        ["worker", "--workflows", module, "--store", url],
        [
            "worker",
            "--workflows",
            module,
            "--commit",
            "group",
            "--writer",
            "process",
            "--store",
            url,
        ],
        ["db", "upgrade", "--store", url],
        ["demo", "--orders", "1", "--store", url],
    ]


@pytest.fixture(autouse=True)
def _forget_remembered_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's remembered passwords stay its own: they mask text in every later test."""
    monkeypatch.setattr(actors._redact, "_KNOWN", set(actors._redact._KNOWN))


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    name = f"wfmod_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FLOWS), encoding="utf-8")
    return name


def _run(args: list[str], caplog: pytest.LogCaptureFixture, env: dict[str, str] | None = None):
    caplog.clear()
    result = CliRunner().invoke(main, args, env=env)
    printed = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        printed += "".join(traceback.format_exception(result.exception))
    return result, printed + caplog.text


@pytest.mark.parametrize("url", UNREACHABLE)
def test_no_command_prints_the_password_of_an_unreachable_store(url, module, caplog):
    caplog.set_level(logging.DEBUG)
    for args in _commands(module, url):
        result, seen = _run(args, caplog)
        assert result.exit_code != 0, (args, result.output)
        assert "***" in seen or "nosuch" in url or "notaport" in url, seen
        assert SENTINEL not in seen, (args, seen)
        assert SENTINEL[:8] not in seen, (args, seen)
    # The same, with the URL taken from the environment.
    for args in _commands(module, url):
        result, seen = _run(args[:-2], caplog, env={"ACTORS_STORE": url})
        assert result.exit_code != 0, (args, result.output)
        assert SENTINEL not in seen, (args, seen)


def _with_password(uri: str, **query: str) -> str:
    parts = urlsplit(uri)
    user = (parts.username or "postgres") + f":{SENTINEL}"
    netloc = f"{user}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    q = "&".join(p for p in (parts.query, extra) if p)
    return urlunsplit((parts.scheme, netloc, parts.path, q, parts.fragment))


@pytest.fixture
def live_urls(pg_database: Any) -> list[str]:
    uri = pg_database(f"actors_secrets_{uuid.uuid4().hex[:8]}")
    plain = urlsplit(uri)
    as_param = urlunsplit(
        (plain.scheme, plain.netloc.replace(":@", "@"), plain.path,
         "&".join(p for p in (plain.query, f"password={SENTINEL}") if p), ""),
    )  # fmt: skip
    return [_with_password(uri), as_param]


@pytest.mark.postgres
def test_no_command_prints_the_password_of_a_live_store(live_urls, module, caplog):
    caplog.set_level(logging.DEBUG)
    for url in live_urls:
        for args in _commands(module, url):
            if args[0] == "worker" and "--writer" not in args:
                continue  # runs until a signal: see the next test
            result, seen = _run(args, caplog)
            assert SENTINEL not in seen, (args, seen)
        result, seen = _run(["status"], caplog, env={"ACTORS_STORE": url})
        assert result.exit_code == 0, seen
        assert ":***@" in seen or "password=***" in seen, seen
        assert SENTINEL not in seen


@pytest.mark.postgres
def test_a_worker_process_never_logs_the_password(live_urls, module, tmp_path):
    url = live_urls[0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "actors", "worker", "--workflows", module,
         "--log-level", "DEBUG"],
        cwd=tmp_path,
        env={**os.environ, "ACTORS_STORE": url, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "worker started" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    log = "".join(seen) + err + out
    assert "worker started" in log
    assert "***" in log
    assert SENTINEL not in log


def test_masking_covers_urls_query_parameters_and_connection_strings():
    assert mask_url(f"postgresql://u:{SENTINEL}@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url(f"postgresql://u@h/db?sslmode=require&password={SENTINEL}&x=1") == (
        "postgresql://u@h/db?sslmode=require&password=***&x=1"
    )
    assert SENTINEL not in mask_secrets(f"host=h password='{SENTINEL} x' dbname=d")
    assert SENTINEL not in mask_secrets(f"failed for postgresql://u:{SENTINEL}@h@x/db: no")
    assert mask_secrets("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql:/u:pw@h/db", "postgresql:/u:***@h/db"),
        ("postgresql//u:pw@h/db", "postgresql//u:***@h/db"),
        ("postgresql:///u:pw@h/db", "postgresql:///u:***@h/db"),
        ("postgresql:u:pw@h/db", "postgresql:u:***@h/db"),
        ("u:pw@h:5432/db", "u:***@h:5432/db"),
        ("u:pw@h://db", "u:***@h://db"),
        # No password to mask: a path, a query's @, a file's name.
        ("postgresql:/u@h/db", "postgresql:/u@h/db"),
        ("postgresql://h/db?application_name=a@b:c", "postgresql://h/db?application_name=a@b:c"),
        ("sqlite:///a:b@c.db", "sqlite:///a:b@c.db"),
    ],
)
def test_a_mistyped_store_urls_password_is_masked_however_short(url, shown):
    """A URL with a slash or colon missing was quoted back with its password as given."""
    assert mask_url(url) == shown


@pytest.mark.parametrize("name", ["sslpassword", "pass%77ord", "%70assword", "ssl%70assword"])
def test_a_password_parameter_spelled_otherwise_is_masked(name):
    """Passwords as libpq reads them: they were shown as given (the dashboard's header)."""
    password = f"Spelled-{uuid.uuid4().hex[:8]}"  # remembered by no other test
    url = f"postgresql://u@h/db?sslmode=require&{name}={password}&x=1"
    assert mask_url(url) == f"postgresql://u@h/db?sslmode=require&{name}=***&x=1"
    assert password not in mask_secrets(f"host=h {name}={password} dbname=d")


def test_masking_stops_at_the_end_of_the_password():
    password = f"{SENTINEL}:end"  # a colon may be part of a password
    url = f"postgresql://h/db?password={password}"
    remember_secrets(url)
    said = f"cannot open the PostgreSQL store at {url}: connection failed"
    shown = "cannot open the PostgreSQL store at postgresql://h/db?password=***: connection failed"
    assert mask_secrets(said) == shown  # the ": " after it is the message's, and stays
    assert mask_secrets(shown) == shown  # masking again takes nothing more
    # A password not remembered runs to &, # or whitespace: what follows stays.
    assert mask_url("postgresql://h/db?password=pw1#frag") == "postgresql://h/db?password=***#frag"
    assert mask_secrets("password=pw2&sslmode=require, then") == (
        "password=***&sslmode=require, then"
    )
    assert mask_secrets(f"'{url}': refused") == "'postgresql://h/db?password=***': refused"


@pytest.mark.parametrize(
    "password",
    ["Unseen,Tail91", "Unseen;Tail92", "Unseen:Tail93", "***Unseen94", "***,Tail95", "Un%2CTail96"],
)
def test_no_part_of_a_password_shows(password):
    texts = [
        f"postgresql://h/db?password={password}",
        f"postgresql://h/db?sslmode=require&password={password}&x=1: refused",
        f"host=h password={password} dbname=d",
        f"postgresql://u:{password}@h/db: refused",
    ]
    for text in texts:
        masked = mask_secrets(text)
        for part in filter(None, re.split(r"[^A-Za-z0-9]+", password)):
            assert part not in masked, (text, masked)


def test_a_remembered_percent_encoded_password_is_masked_decoded_too():
    password = "Pct,Pass:97 word"
    remember_secrets(f"postgresql://u:{quote(password, safe='')}@h/db")
    shown = mask_secrets(f'password authentication failed for user "u" ({password}) at h')
    assert shown == 'password authentication failed for user "u" (***) at h'


@pytest.mark.postgres
def test_a_running_mediators_store_url_never_shows_its_password(live_urls):
    """What examples/dashboard.py prints for the store it filled (``mediator.store.url``)."""
    for url in live_urls:
        mediator = Mediator([], store=url)
        try:
            assert SENTINEL not in mediator.store.url, mediator.store.url
            assert "***" in mediator.store.url
        finally:
            mediator.shutdown()


def test_an_opened_store_url_never_shows_its_password(tmp_path):
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql://u:{SENTINEL}%zz@127.0.0.1:1/db")
    text = "".join(traceback.format_exception(caught.value))
    assert SENTINEL not in text


def test_a_task_error_quoting_a_store_url_is_stored_and_logged_masked(tmp_path, caplog):
    from actors import JobState, Mediator, Sequential, Workflow

    def connect(data):
        raise ConnectionError(f"cannot reach postgresql://app:{SENTINEL}@db/app")

    flow = Workflow("connects", [Sequential("connect", connect)], start="connect")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([flow], store=url) as mediator:
        job = mediator.schedule("connects", {}).result(timeout=TIMEOUT)
        saved = mediator.get_job(job.id)
    assert job.state is JobState.FAULTED
    assert "postgresql://app:***@db/app" in job.error
    assert SENTINEL not in job.error
    assert SENTINEL not in saved.error
    assert SENTINEL not in caplog.text
    shown = CliRunner().invoke(main, ["jobs", "show", job.id, "--store", url])
    assert "***" in shown.output
    assert SENTINEL not in shown.output


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # Whitespace in the password: the URL is shown whole in the error.
        ("postgresql://u:Sek Ritwhite81@127.0.0.1:1/db", "cannot open {url}: refused"),
        # An unencoded @: libpq takes the host to start at the first one and quotes it.
        ("postgresql://u:Sek@Ritat82@127.0.0.1:1/db", "failed to resolve host 'Ritat82@127.0.0.1'"),
        # Two unencoded @: the host libpq quotes holds a piece too short to mask alone.
        ("postgresql://u:p@ss@w0rdat84@127.0.0.1:1/db", "resolve host 'ss@w0rdat84@127.0.0.1'"),
        # An @ in a query parameter after the userinfo's password.
        ("postgresql://u:Sekritq83@h/db?password=a@b", "password authentication failed: Sekritq83"),
    ],
)
def test_a_password_with_whitespace_or_at_signs_unencoded_never_shows(url, said):
    remember_secrets(url)
    shown = mask_secrets(said.format(url=url))
    for part in ("Ritwhite81", "Ritat82", "Sekritq83", "ss@w0rd", "'ss@"):
        assert part not in shown, shown
        assert part not in mask_url(url), mask_url(url)


@pytest.mark.parametrize(
    ("url", "said", "parts"),
    [
        # psycopg reads the host from the first @ to the /: a piece between two cuts.
        (
            "postgresql://u:Se@cr#et/Pass85@127.0.0.1:1/db",
            "failed to resolve host 'cr#et': Name or service not known",
            ["cr#et", "Pass85"],
        ),
        # A # and whitespace: the URL's own parser and the pattern stop at either, and
        # libpq quotes the stretch between the @ and the space.
        (
            "postgresql://u:Zq9#p@ss w0rd86/%?&=:x@/db?host=/tmp",
            'cannot open {url}: unexpected spaces found in "ss w0rd86"',
            ["w0rd86", "ss w0rd86", "Zq9#p", "&=:x"],
        ),
        # A ? and a #: a reader cuts at each.
        (
            "postgresql://u:Ab1@Cdef87/ghij?klmn#opqr@h/db",
            'missing key/value separator "=" in URI query parameter: "klmn#opqr@h/db"',
            ["Cdef87", "ghij", "klmn", "opqr"],
        ),
    ],
)
def test_a_password_with_url_delimiters_unencoded_never_shows_a_piece(url, said, parts):
    remember_secrets(url)
    shown = mask_secrets(said.format(url=url))
    for part in parts:
        assert part not in shown, shown
        assert part not in mask_url(url), mask_url(url)


def test_a_password_piece_never_breaks_the_password_parameter_pattern():
    """A piece inside the word "password" would turn ``password=`` into ``***word=``."""
    remember_secrets("postgresql://u:pass/Secret88@h/db")
    assert mask_secrets("host=h password=Other89 dbname=d") == "host=h password=*** dbname=d"


def test_a_log_line_shows_control_characters_instead_of_obeying_them(tmp_path, caplog, monkeypatch):
    # A store an earlier version wrote may hold such an id (they are refused now).
    monkeypatch.setattr(actors._cases, "_CONTROL", re.compile("(?!)"))

    def broken(data):
        raise ValueError("bad row")

    flow = Workflow("ctl", start="a", steps=[Sequential("a", broken)])
    store = f"sqlite:///{tmp_path / 'c.db'}"
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([flow], store=store) as mediator:
        handle = mediator.schedule("ctl", {}, job_id="order\x1b[2J-1\x9b2J\u202e")
        assert handle.result(timeout=TIMEOUT).state is JobState.FAULTED
    logged = "\n".join(r.getMessage() for r in caplog.records if "order" in r.getMessage())
    assert "order\\x1b[2J-1\\x9b2J\\u202e" in logged  # ESC, C1's CSI, an RTL override
    assert "\x1b" not in logged
    assert "\x9b" not in logged
    assert "\u202e" not in logged


def test_a_logged_traceback_shows_control_characters_instead_of_obeying_them(tmp_path, caplog):
    # The log line escaped them, and the traceback printed after it wrote them raw: the
    # exception's own text (here a task's, quoting what a remote service answered).
    def broken(data):
        raise ValueError("service said \x1b[2J\x1b]0;owned\x07 \u202egnp.exe")

    flow = Workflow("ctl", start="a", steps=[Sequential("a", broken)])
    store = f"sqlite:///{tmp_path / 'c.db'}"
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([flow], store=store) as mediator:
        handle = mediator.schedule("ctl", {}, job_id="order-1")
        assert handle.result(timeout=TIMEOUT).state is JobState.FAULTED
    [record] = [r for r in caplog.records if r.exc_info and "order-1" in r.getMessage()]
    written = logging.Formatter("%(message)s").format(record)
    assert "ValueError: service said \\x1b[2J\\x1b]0;owned\\x07 \\u202egnp.exe" in written
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in written
    assert "Traceback (most recent call last):\n" in written  # its lines stay lines


def test_the_accepted_forms_show_the_example_url_whole_and_real_passwords_masked():
    """The example's word ``password`` was masked: ``postgresql://user:***@host...``."""
    password = f"Real-{uuid.uuid4().hex[:8]}"  # remembered by no other test
    result = CliRunner().invoke(main, ["jobs", "list", "--store", f"nosuch://u:{password}@h/db"])
    assert result.exit_code == 2, result.output
    assert "accepted forms: memory://, sqlite:///relative/path.db, " in result.stderr
    assert "postgresql://user:password@host:port/database (or postgres://...)" in result.stderr
    assert password not in result.stderr and "nosuch://u:***@h/db" in result.stderr
    # The example standing alone only: a password that ends in it is masked whole.
    other = f"Unseen-{uuid.uuid4().hex[:8]}"  # remembered by none: the patterns mask it
    glued = f"postgresql://u:{other}{URL_EXAMPLE} and {URL_EXAMPLE}"
    assert mask_secrets(glued) == f"postgresql://u:***@host:port/database and {URL_EXAMPLE}"
    beside = f"postgresql://u:{other}@h/db {URL_EXAMPLE}"
    assert mask_secrets(beside) == f"postgresql://u:***@h/db {URL_EXAMPLE}"
