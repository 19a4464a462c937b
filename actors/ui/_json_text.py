"""Job data as the dashboard shows it: stored JSON text, indented, credentials masked."""

from __future__ import annotations

import json
import re
from typing import Any

from actors._redact import MASK, mask_secrets
from actors.ui._kept import Kept

__all__ = ["KEPT_DATA", "SHOWN_CHARS", "cut_shown", "pretty_json", "shown_data"]

# Keys whose values are credentials whatever they hold.
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|pwd|secret|token|api[_-]?key|private[_-]?key|credential|authorization",
    re.IGNORECASE,
)
# A "key": value pair in text that is not JSON (a damaged or cut row): a quoted key, and
# a quoted value (its closing quote may be cut off) or a bare one.
_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,:"{}\[\]\s]*)')
# A page shows up to 200 jobs: each one's data is cut at this many characters, so a page
# stays readable and bounded however large a case's data grows.
SHOWN_CHARS = 20_000
# Formatted data kept, each cut to SHOWN_CHARS: more than two cases' pages show.
KEPT_DATA = Kept(512)


def _hide_secrets(value: Any) -> Any:
    # Each string is masked as it is, before it is written as JSON: in the written text
    # a quote is escaped (password=\"a b\"), and the mask stopped at the backslash.
    if isinstance(value, dict):
        return {
            _hide_secrets(k): MASK
            if _SECRET_KEY.search(str(k)) and v is not None
            else _hide_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hide_secrets(v) for v in value]
    if isinstance(value, str):
        return mask_secrets(value)
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
        return cut_shown(_mask_pairs(mask_secrets(str(text))))
    except RecursionError:
        # Shown as text, it could hold a secret under a key that masking would have found.
        return f"(not shown: JSON nested too deep to show, {len(text)} characters)"
    return cut_shown(shown)


def shown_data(text: str | None) -> str:
    """``pretty_json(text)`` (``null`` for none), formatted once per text and kept.

    A case's page shows the data of up to 200 jobs at every refresh; masking each
    string of hostile data costs about a microsecond a character (``actors.ui._kept``).
    """
    if text is None:
        return "null"
    return KEPT_DATA.view(text, "data", lambda whole: pretty_json(whole) or "null")


def _mask_pairs(text: str) -> str:
    """``text`` with the value of each ``"key": value`` whose key names a credential masked.

    For data that is not JSON (a damaged row), shown as text: the keys are found as
    they read, not parsed.
    """

    def masked(pair: re.Match[str]) -> str:
        if not _SECRET_KEY.search(pair.group(1)) or pair.group(3) in ("", "null"):
            return pair.group(0)
        return f'"{pair.group(1)}"{pair.group(2)}"{MASK}"'

    return _PAIR.sub(masked, text)


def cut_shown(shown: str, what: str = "data") -> str:
    """``shown`` up to ``SHOWN_CHARS`` characters (cut after masking: nothing leaks).

    ``what``: what the command printing it whole prints (the job's data, its error).
    """
    if len(shown) <= SHOWN_CHARS:
        return shown
    left = len(shown) - SHOWN_CHARS
    return (
        f"{shown[:SHOWN_CHARS]}\n… ({left:,} more characters not shown: "
        f"`actors jobs show ID --json` prints the whole {what})"
    )
