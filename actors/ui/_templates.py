"""The pages' Jinja2 environment and the filters their templates use."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from actors._due_text import until
from actors._job import JobState
from actors._redact import mask_secrets
from actors._text import printable
from actors._version import __version__
from actors.ui._json_text import cut_shown
from actors.ui._kept import Kept

__all__ = ["KEPT_TEXTS", "environment", "masked", "quote_part", "url_for"]

# Masked errors kept: more than one case's page shows (its error, 200 jobs' and 1,000
# history entries' errors), each cut to what a page shows of it.
KEPT_TEXTS = Kept(4_096)


def quote_part(part: str) -> str:
    """``part`` quoted for a URL path segment (ids and names may hold ``?``, ``#``, ``%``)."""
    return quote(str(part), safe="")


def _utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    try:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError, TypeError):  # a damaged row's time
        return f"? ({ts!r:.40})"


def _shown(value: Any) -> Any:
    """Every value a page prints, as text a page can encode and that shows as itself.

    A damaged row may hold text that is not Unicode (a lone surrogate): shown escaped,
    where it made the whole page fail to encode. Control characters and bidirectional
    controls (in ids an earlier version stored) are shown as escapes, as the command
    line shows them: a right-to-left override would draw one id as another.
    """
    if type(value) is not str:
        return value
    if not value.isascii():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return printable(value)


def _ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "-"
    seconds = max(0.0, (time.time() if now is None else now) - ts)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} d ago"


def masked(text: str, limit: int | None = None) -> str:
    """``mask_secrets(text)``, cut after ``limit`` characters; each text masked once.

    Cut after masking, so no part of a password is left showing. The result is kept
    (see ``actors.ui._kept``): a refresh does not mask the same text again.
    """
    return KEPT_TEXTS.view(text, limit, lambda whole: mask_secrets(whole)[:limit])


def _mask(text: str | None, limit: int | None = None) -> str | None:
    """The ``mask`` filter: ``limit`` cuts a text a page shows the start of."""
    return None if text is None else masked(str(text), limit)


def _whole_error(text: str | None) -> str | None:
    """A case's error, masked, cut to what a page shows (a note says how many more).

    An exception's message may be megabytes long, and the case's page showed it whole
    (masked first: a cut never leaves part of a password showing).
    """
    if text is None:
        return None
    return KEPT_TEXTS.view(str(text), "error", lambda t: cut_shown(mask_secrets(t), "error"))


def environment() -> Environment:
    """The Jinja2 environment of the pages: autoescaped, with the pages' filters."""
    env = Environment(
        loader=PackageLoader("actors.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters["utc"] = _utc
    env.filters["q"] = quote_part
    env.filters["ago"] = _ago
    env.filters["until"] = until
    env.filters["mask"] = _mask
    env.filters["whole_error"] = _whole_error
    env.globals["url_for"] = url_for  # Starlette's names the host: kept only if unset
    env.globals["version"] = __version__
    env.globals["states"] = [s.value for s in JobState]
    return env


@pass_context
def url_for(context: Context, name: str, /, **path_params: Any) -> str:
    """The path of the dashboard's page ``name``, without scheme or host.

    A TLS proxy in front of the dashboard may pass on neither the scheme nor the host the
    browser used: an absolute link built from the request would lead elsewhere.
    """
    return str(context["request"].url_for(name, **path_params).path)
