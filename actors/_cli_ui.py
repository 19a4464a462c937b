"""``actors ui``: serve the web dashboard over a store (the ``ui`` extra)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import click

from actors._cli import (
    _open_existing,
    _open_reader,
    main,
    store_option,
)
from actors._cli_errors import BadArgumentError, operator_argument
from actors._cli_load import load_all
from actors._workflow import Workflow

__all__ = ["is_loopback", "ui"]

_TOKEN_ENV = "ACTORS_UI_TOKEN"
_MIN_TOKEN = 16  # actors.ui's MIN_TOKEN, kept here: the ui extra may be missing


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine can reach (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.command()
@store_option
@click.option(
    "--workflows",
    "refs",
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are, to draw their graphs (as for worker). Repeat for several "
    "modules. Without it the pages show no graphs.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=8400, show_default=True, type=click.IntRange(0, 65535), help="TCP port."
)
@click.option("--read-only", is_flag=True, help="Show everything, change nothing: no actions.")
@click.option(
    "--token",
    envvar=_TOKEN_ENV,
    default=None,
    help=f"Access token every request must carry; needed to bind anything but loopback "
    f"(at least {_MIN_TOKEN} characters). [env: {_TOKEN_ENV}]",
)
@click.option(
    "--operator",
    default=None,
    callback=operator_argument,
    help="The name actions are recorded under in each job's history. "
    "[default: $ACTORS_OPERATOR, else the login name]",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log level of the web server and the dashboard (the actors loggers) on stderr.",
)
def ui(
    store_url: str,
    refs: Sequence[str],
    host: str,
    port: int,
    read_only: bool,
    token: str | None,
    operator: str | None,
    log_level: str,
) -> None:
    """Serve the web dashboard of a store until Ctrl-C.

    An overview of the cases by workflow and state, a page per case (its graph, step
    history, data, and retry, cancel and send-event buttons) and one per workflow.
    It binds to 127.0.0.1; binding another address needs --token, which every request
    must then carry (open /?token=TOKEN once in a browser). Needs the ui extra:
    pip install 'actors-mediator[ui]'.
    """
    try:
        import uvicorn

        from actors.ui import create_app
        from actors.ui._security import LOOPBACK_HOSTS, token_problem
    except ImportError as exc:
        msg = (
            f"the dashboard needs the ui extra ({exc}); install it with: "
            "pip install 'actors-mediator[ui]'"
        )
        raise BadArgumentError(msg) from exc
    if token is not None and (problem := token_problem(token)) is not None:
        msg = f"--token {problem}"
        raise BadArgumentError(msg)
    if token is None and not is_loopback(host):
        msg = (
            f"binding {host!r} would let other machines reach the dashboard: give it --token "
            f"(or {_TOKEN_ENV}), or bind 127.0.0.1"
        )
        raise BadArgumentError(msg)
    if store_url.startswith("memory:"):
        msg = (
            f"{store_url!r} lives inside one process, so the dashboard would show nothing; "
            "point it at the store your workers use (sqlite:///... or postgresql://...)"
        )
        raise BadArgumentError(msg)
    workflows: list[Workflow] = load_all(refs)
    # Read-only opens the database read-only too: nothing can write through it.
    store = _open_reader(store_url) if read_only else _open_existing(store_url)
    try:
        app = create_app(
            store,
            workflows,
            read_only=read_only,
            token=token,
            hosts=None if token is not None else LOOPBACK_HOSTS | {_address_name(host)},
            operator=operator,
        )
        listener = _listen(host, port)  # bound here: --port 0 is shown as the port it got
        bound = int(listener.getsockname()[1])
        shown = f"[{host}]" if ":" in host else host
        click.echo(
            f"actors dashboard of {store.url} on http://{shown}:{bound}/"
            + (" (read-only)" if read_only else "")
            + (" ; open /?token=TOKEN once to sign in" if token else ""),
            err=True,
        )
        config = uvicorn.Config(app, host=host, port=bound, log_level=log_level.lower())
        server = uvicorn.Server(config)
        # Here: _cli_worker imports _cli, which imports this module.
        from actors._cli_worker import _log_to_stderr

        with _log_to_stderr(log_level):  # the dashboard's own lines (the store down, back)
            server.run(sockets=[listener])
    finally:
        store.close()


def _address_name(host: str) -> str:
    """The bound address as a browser's ``Host`` header names it (``127.0.0.2``, ``::1``).

    A loopback address other than 127.0.0.1 (all of 127.0.0.0/8 is) is answered too: the
    dashboard said it served there and refused every request. A literal address is no
    DNS name, so answering it lets no other site's page in.
    """
    name = host.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (``BadArgumentError`` naming why not)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise BadArgumentError(msg) from exc
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as exc:
        listener.close()
        msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise BadArgumentError(msg) from exc
    return listener
