"""What ``create_app`` refuses before it opens anything: a URL for a store, a weak token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors._redact import mask_url
from actors.ui._security import token_problem

__all__ = ["refuse_bad_arguments"]


def refuse_bad_arguments(store: Any, token: str | None, hosts: Iterable[str] | None) -> None:
    """Refuse what would open a store never closed, or let any request in.

    ``TypeError`` for a store's URL given as the store; ``ValueError`` for an empty or weak
    token, or for any host name allowed with no token.
    """
    if isinstance(store, str):
        # Checked first: Admin would open the URL (a store never closed), then the
        # pages refused it as "got 'str'; memory:// lives inside one process".
        msg = (
            f"the dashboard takes a store, not its URL ({mask_url(store)!r}): pass "
            "actors.stores.open_store(url), or the Mediator's store"
        )
        raise TypeError(msg)
    if token is not None and not token.strip():
        # An empty token is one every request can carry: an empty cookie or "Bearer "
        # signed in (a token read from an environment variable that is set but empty).
        msg = f"token={token!r} lets every request in: give a token, or None for none"
        raise ValueError(msg)
    if token is not None and (problem := token_problem(token)) is not None:
        msg = f"token {problem}"  # what `actors ui --token` refuses too
        raise ValueError(msg)
    if hosts is None and token is None:
        msg = "a dashboard that answers any host name needs a token"
        raise ValueError(msg)
