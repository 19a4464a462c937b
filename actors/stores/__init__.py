"""Job stores, chosen by URL: ``memory://`` (more to come: ``sqlite:///``, ``postgresql://``)."""

from __future__ import annotations

from actors._errors import StoreError
from actors.stores._base import Store
from actors.stores._memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]


def open_store(url: str) -> Store:
    """Open the store a URL names."""
    if not isinstance(url, str):
        msg = f"a store URL must be a string like 'memory://', got {url!r}"
        raise StoreError(msg)
    if url == "memory://" or url.startswith("memory:"):
        return MemoryStore()
    scheme = url.split(":", 1)[0]
    msg = f"unknown store URL scheme {scheme!r} in {url!r}; use memory://"
    raise StoreError(msg)
