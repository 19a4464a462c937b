"""The dashboard's Starlette application: its pages, their live fragments and the actions."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from html import escape
from typing import Any, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from actors._admin_views import store_workers
from actors._due_text import server_now
from actors._errors import ActorsError, StoreError
from actors._job import JobState
from actors._redact import mask_secrets, mask_url, redacted_logger
from actors._workflow import Workflow
from actors.admin import Admin
from actors.stores import Store
from actors.ui._actions import (
    ActionError,
    Actions,
    AdminActions,
    body_refused,
    carry_out,
)
from actors.ui._app_arguments import refuse_bad_arguments
from actors.ui._case_page import case_facts
from actors.ui._gate import ReadGate, StoreDownError
from actors.ui._graph import marked_mermaid, step_mark
from actors.ui._reads import Reader, faulted_where, state_order
from actors.ui._security import (
    LOOPBACK_HOSTS,
    Guard,
    SecurityHeaders,
    csrf_ok,
    failed,
    slash_redirects,
)
from actors.ui._server_log import mask_token_in_logs
from actors.ui._templates import environment, quote_part

__all__ = ["create_app"]

T = TypeVar("T")

_log = redacted_logger("actors.ui")

_REFRESH = "2s"  # how often a case's page polls
_OVERVIEW_REFRESH = "5s"  # how often the overview polls
# The overview's figures are read at most once per this many seconds, whatever the
# number of open tabs: on a store of 100,000 cases they cost a few hundred ms to read.
_OVERVIEW_TTL = 4.0
FAULTED_PAGE = 100  # faulted cases a page of their list shows


class Dashboard:
    """The pages and actions, over one store; ``create_app`` wraps it in Starlette."""

    def __init__(
        self,
        store: Store,
        workflows: Iterable[Workflow],
        *,
        read_only: bool,
        actions: Actions | None,
        admin: Admin,
    ) -> None:
        self.reader = Reader(store)
        self.admin = admin
        self.store_url = mask_url(store.url)
        # Every page's reads go through it: a store that fails is said so at once.
        self.gate = ReadGate(self.store_url, self.reader.check)
        self.workflows: dict[tuple[str, int], Workflow] = {}
        for wf in workflows:
            self.workflows[(wf.name, wf.version)] = wf
        self.read_only = read_only
        self.actions = actions
        self.csrf = secrets.token_urlsafe(32)
        self._overview_lock = threading.Lock()
        self._overview_facts: tuple[float, dict[str, Any] | str] | None = None
        self.templates = Jinja2Templates(env=environment())

    async def _page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """The template ``name`` drawn on a worker thread, not on the event loop.

        Drawing a page masks every error it shows, which a hostile text makes slow: on
        the event loop, every other request (a static file, another browser's page)
        waited for it.
        """
        response = await anyio.to_thread.run_sync(self._render, request, name, context)
        response.status_code = status
        return response

    def _render(self, request: Request, name: str, context: dict[str, Any]) -> Response:
        context.setdefault("refresh", _REFRESH)
        context.update(
            store_url=self.store_url,
            read_only=self.read_only,
            can_act=not self.read_only and self.actions is not None,
            csrf=self.csrf,
            now=time.time(),
            # Due times and leases are stored by the database server's clock on PostgreSQL.
            server_now=server_now(self.reader.store),
        )
        response = self.templates.TemplateResponse(request, name, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread, through the gate (see ``ReadGate``)."""
        return await anyio.to_thread.run_sync(self.gate.read, fn, *args)

    # -- overview ---------------------------------------------------------------------------

    def _overview(self) -> dict[str, Any]:
        reader = self.reader
        now = time.time()
        unheld = reader.unheld_counts(now)
        counts = reader.case_counts()
        # A state no release writes (a row edited by hand) gets a column of its own, so
        # that each row's cells add up to its "all" and the case is counted somewhere.
        known = _all_states()
        edited = sorted({s for c in counts for s in c.states} - set(known))
        return {
            "counts": counts,
            "states": known + edited,
            "totals": {s: sum(c.states.get(s, 0) for c in counts) for s in known + edited},
            "throughput": reader.throughput(15, now),
            "faulted": reader.faulted(20),
            "faulted_total": reader.count("state = ?", (JobState.FAULTED.value,)),
            "unheld": reader.unheld(20, now),
            "unheld_by_workflow": unheld,
            "unheld_total": sum(unheld.values()),
            "workers": store_workers(reader.store, 20),
            "known": set(self.workflows),
        }

    def _overview_shared(self) -> dict[str, Any]:
        """The overview's figures, read by one request at a time and kept briefly.

        A failed read is kept as long: the requests that waited for it get its error,
        rather than each trying the store again in turn (seconds each when it is gone).
        """
        with self._overview_lock:
            kept = self._overview_facts
            if kept is None or time.monotonic() - kept[0] >= _OVERVIEW_TTL:
                try:
                    kept = (time.monotonic(), self.gate.read(self._overview))
                except StoreError as exc:
                    kept = (time.monotonic(), str(exc))
                self._overview_facts = kept
        if isinstance(kept[1], str):
            raise StoreError(kept[1])
        return kept[1]

    async def overview(self, request: Request) -> Response:
        facts = await anyio.to_thread.run_sync(self._overview_shared)
        return await self._page(request, "overview.html", {**facts, "refresh": _OVERVIEW_REFRESH})

    async def overview_live(self, request: Request) -> Response:
        facts = await anyio.to_thread.run_sync(self._overview_shared)
        return await self._page(request, "_overview_live.html", facts)

    async def faulted(self, request: Request) -> Response:
        """Every faulted case, newest first, FAULTED_PAGE a page (``?page=N``, from 1).

        ``?workflow=NAME`` lists that workflow's only.
        """
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        workflow = request.query_params.get("workflow") or None
        rows, total = await self._read(self._faulted, page, workflow)
        pages = max(1, -(-total // FAULTED_PAGE))
        return await self._page(
            request,
            "faulted.html",
            {
                "faulted": rows,
                "faulted_total": total,
                "page": page,
                "pages": pages,
                "workflow": workflow,
            },
        )

    def _faulted(self, page: int, workflow: str | None) -> tuple[list[Any], int]:
        reader = self.reader
        total = reader.count(*faulted_where(workflow))
        # A page past the last reads nothing: its offset may exceed what a database
        # integer holds (an error, not an empty page).
        if (page - 1) * FAULTED_PAGE >= total:
            return [], total
        return reader.faulted(FAULTED_PAGE, (page - 1) * FAULTED_PAGE, workflow), total

    # -- a case -----------------------------------------------------------------------------

    def _case(self, case_id: str) -> dict[str, Any] | None:
        return case_facts(self.reader, self.admin, self.workflows, case_id)

    async def case(self, request: Request) -> Response:
        case_id = request.path_params["case_id"]
        facts = await self._read(self._case, case_id)
        if facts is None:
            owner = await self._read(self.reader.case_of, case_id)
            if owner is not None and owner != case_id:  # a branch: show its case
                return _redirect(request, "case", case_id=quote_part(owner))
            return await self._missing(
                request, f"No case {request.path_params['case_id']!r} in this store."
            )
        return await self._page(request, "case.html", facts)

    async def case_live(self, request: Request) -> Response:
        facts = await self._read(self._case, request.path_params["case_id"])
        if facts is None:
            return HTMLResponse("<p class='flash error'>This case is no longer in the store.</p>")
        return await self._page(request, "_case_live.html", facts)

    async def find(self, request: Request) -> Response:
        """The overview's "open a case" box: to the case (or the branch's case) named."""
        typed = request.query_params.get("id", "")
        job_id = typed.strip()  # a pasted id often brings a space along
        if not job_id:
            return _redirect(request, "overview")
        # ...but an id may begin or end with one: the id as typed, if the store holds it.
        if typed != job_id and await self._read(self.reader.case_of, typed) is not None:
            job_id = typed
        return _redirect(request, "case", case_id=quote_part(job_id))

    # -- a workflow -------------------------------------------------------------------------

    def _workflow(self, name: str) -> dict[str, Any] | None:
        counts = [c for c in self.reader.case_counts() if c.workflow == name]
        loaded = sorted(v for (n, v) in self.workflows if n == name)
        if not counts and not loaded:
            return None
        steps = self.reader.steps(name)
        versions = sorted({c.version for c in counts} | set(loaded), reverse=True)
        graphs = {}
        for version in versions:
            wf = self.workflows.get((name, version))
            if wf is not None:
                at = steps.get(version, {})
                marks = {step: mark for step, states in at.items() if (mark := step_mark(states))}
                notes = {step: _counted(states) for step, states in at.items()}
                graphs[version] = marked_mermaid(wf, marks, notes)
        return {
            "name": name,
            "versions": versions,
            "counts": {c.version: c for c in counts},
            "steps": steps,
            "graphs": graphs,
        }

    async def workflow(self, request: Request) -> Response:
        name = request.path_params["name"]
        facts = await self._read(self._workflow, name)
        if facts is None:
            return await self._missing(
                request, f"No workflow {name!r}: no case of it in this store."
            )
        return await self._page(request, "workflow.html", facts)

    async def _missing(self, request: Request, message: str) -> Response:
        return await self._page(request, "missing.html", {"message": message}, 404)

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        """A 503 saying why the store cannot be read (a page, or a line for htmx)."""
        message = f"The store cannot be read: {mask_secrets(str(exc))}"
        # The gate logs a failing store once, not once per page: debug here.
        level = logging.DEBUG if isinstance(exc, StoreDownError) else logging.WARNING
        _log.log(level, "%s %s: %s", request.method, request.url.path, message)
        if request.headers.get("hx-request"):
            return _flash(message, 503)
        context = {"message": message, "heading": "Store unavailable"}
        return await self._page(request, "missing.html", context, 503)

    # -- actions ----------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        refused = body_refused(request.headers.get("content-length"))
        if refused is not None:
            return _flash(refused[1], refused[0])
        form = await request.form()
        csrf = form.get("csrf")
        if not csrf_ok(request, self.csrf, csrf if isinstance(csrf, str) else None):
            return _flash("Refused: this request did not come from the dashboard's own page.", 403)
        if self.read_only:
            return _flash("Refused: the dashboard runs read-only (--read-only).", 403)
        if self.actions is None:
            return _flash("Refused: no admin actions are available for this store.", 403)
        action = request.path_params["action"]
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            message = await anyio.to_thread.run_sync(
                carry_out, self.actions, self.admin, action, fields
            )
        except (ActionError, ActorsError, ValueError) as exc:
            return _flash(mask_secrets(str(exc)), 409)
        return _flash(mask_secrets(message), 200)


def _redirect(request: Request, name: str, **params: str) -> Response:
    """A 303 to the dashboard's page ``name``, by its path: never to the host the request named."""
    return RedirectResponse(request.url_for(name, **params).path, 303)


def _flash(message: str, status: int) -> Response:
    kind = "ok" if status < 400 else "error"
    # htmx swaps 2xx answers only; app.js shows the others too. A done action makes the
    # live parts of the page refresh at once ("refresh" is one of their triggers).
    headers = {"HX-Trigger": "refresh"} if status < 400 else None
    return HTMLResponse(
        f"<p class='flash {kind}' role='status'>{escape(message)}</p>",
        status_code=status,
        headers=headers,
    )


def _counted(states: dict[str, int]) -> str:
    """``{"waiting": 2, "ready": 1}`` -> ``"1 ready, 2 waiting"`` (in the states' order)."""
    return ", ".join(f"{states[s]} {s}" for s in sorted(states, key=state_order) if states[s])


def _all_states() -> list[str]:
    return sorted((s.value for s in JobState), key=state_order)


def create_app(
    store: Store,
    workflows: Iterable[Workflow] = (),
    *,
    read_only: bool = False,
    token: str | None = None,
    hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    actions: Actions | None = None,
    operator: str | None = None,
) -> Starlette:
    """The dashboard as an ASGI application over ``store``.

    Args:
        store: a SQLite or PostgreSQL store (the one the workers use).
        workflows: the workflows whose graphs the pages draw; a case of a workflow not
            given is shown without its graph.
        read_only: refuse every action (the buttons are shown disabled).
        token: when given, every request must carry it (see ``actors.ui``); an empty
            one (or only whitespace), or one shorter than 16 characters, is refused with
            ``ValueError``, and so is one of anything but printable ASCII (no spaces).
        hosts: the host names requests may be addressed to; ``None`` for any (only with
            a ``token``). Loopback names by default.
        actions: carries out retry, cancel and send-event (the admin API over ``store``
            unless given).
        operator: the name each action is recorded under (``$ACTORS_OPERATOR``, else
            the login name, unless given).
    """
    refuse_bad_arguments(store, token, hosts)
    workflows = list(workflows)
    admin = Admin(store, workflows=workflows, operator=operator)
    if actions is None:
        actions = AdminActions(admin)
    dashboard = Dashboard(store, workflows, read_only=read_only, actions=actions, admin=admin)
    routes = [
        Route("/", dashboard.overview, name="overview"),
        Route("/live/overview", dashboard.overview_live, name="overview_live"),
        Route("/find", dashboard.find, name="find"),
        Route("/faulted", dashboard.faulted, name="faulted"),
        Route("/cases/{case_id:str}", dashboard.case, name="case"),
        Route("/live/cases/{case_id:str}", dashboard.case_live, name="case_live"),
        Route("/workflows/{name:path}", dashboard.workflow, name="workflow"),
        Route("/actions/{action:str}", dashboard.act, methods=["POST"], name="act"),
        Mount("/static", StaticFiles(packages=[("actors.ui", "static")]), name="static"),
    ]
    allowed = None if hosts is None else frozenset(h.lower() for h in hosts)
    mask_token_in_logs(token)
    middleware = [Middleware(SecurityHeaders), Middleware(Guard, token=token, hosts=allowed)]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={StoreError: dashboard.unavailable, Exception: failed},
    )
    slash_redirects(app.router)
    app.state.dashboard = dashboard
    return app
