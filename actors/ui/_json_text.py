"""Job data as the dashboard shows it: stored JSON text, indented, credentials masked."""

from __future__ import annotations

import json
import re
from typing import Any

from actors._redact import MASK, mask_secrets

__all__ = ["pretty_json"]

# Keys whose values are credentials whatever they hold.
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential", re.IGNORECASE)


def _hide_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_KEY.search(str(k)) and v is not None else _hide_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hide_secrets(v) for v in value]
    return value


def pretty_json(text: str | None) -> str | None:
    """Stored JSON text indented for reading, credentials masked.

    The values of keys such as ``password``, ``secret``, ``token`` or ``api_key`` become
    ``***``, and so do passwords inside URLs. Text that is not JSON is shown as it is,
    masked the same way; JSON nested too deep to read without running out of stack is
    not shown (a line says so).
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
        shown = json.dumps(_hide_secrets(value), indent=2, ensure_ascii=False, sort_keys=False)
    except ValueError:
        return mask_secrets(str(text))
    except RecursionError:
        # Shown as text, it could hold a secret under a key that masking would have found.
        return f"(not shown: JSON nested too deep to show, {len(text)} characters)"
    return mask_secrets(shown)
