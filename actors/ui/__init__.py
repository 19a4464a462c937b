"""A web dashboard over a store: ``actors ui --store URL`` (needs the ``ui`` extra).

Pages: an overview (cases by workflow and state, the cases that ended per minute, the
faulted cases newest first, and the cases no worker holds), one page per case (its
workflow graph with each job's position and state, kept current; its step history as a
timeline; its data as JSON; retry, cancel and send-event buttons) and one per workflow
(its graph per version, and how many jobs sit at each step).

Everything it serves ships in this package (htmx and Mermaid included): a page fetches
nothing from elsewhere. It binds to 127.0.0.1 unless told otherwise, and any other
address needs an access token. Store URLs and any password in the text it shows are
masked.
"""

from __future__ import annotations

from actors.ui._actions import ActionError, Actions
from actors.ui._app import create_app

__all__ = ["ActionError", "Actions", "create_app"]
