"""pytest plugin for ``actors`` (loaded through the ``pytest11`` entry point).

It imports only pytest at load time; everything else is imported inside fixtures.
"""

from __future__ import annotations
