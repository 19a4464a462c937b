"""The web server's logs of the dashboard: the access token and passwords masked.

The access log writes each request's address, where signing in puts the token: every
``token=`` value in it, and the token itself, show as ``***``. The error log writes the
traceback of an error the dashboard did not expect, whose text may quote a store's URL:
passwords are masked there as in the package's own logs.
"""

from __future__ import annotations

import logging
import re

from actors._redact import MASK, redacted_logger

__all__ = ["ERROR_LOGGER", "SERVER_LOGGERS", "TokenLogFilter", "mask_token_in_logs"]

# The loggers a server writes request addresses to (uvicorn's; others log elsewhere).
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")
ERROR_LOGGER = "uvicorn.error"
# ``token=``, its name written as is or with any letter percent-encoded (``%74oken=``
# signs in as well: the server decodes the name before it reads it).
_TOKEN_NAME = "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in "token")
_TOKEN_PARAM = re.compile(rf"(?i)([?&]{_TOKEN_NAME}=)[^&#\s\"']*")


class TokenLogFilter(logging.Filter):
    """A logger filter that masks access tokens, and every ``token=`` query value.

    It masks the message and each string argument in place, keeping the arguments a
    tuple (uvicorn's access formatter unpacks them).
    """

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def mask(self, text: str) -> str:
        """``text`` with each known token and each ``token=`` value replaced by ``***``."""
        for token in self.tokens:
            text = text.replace(token, MASK)
        return _TOKEN_PARAM.sub(rf"\g<1>{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops one."""
        if isinstance(record.msg, str):
            record.msg = self.mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.mask(a) if isinstance(a, str) else a for a in record.args)
        return True


def mask_token_in_logs(token: str | None) -> None:
    """Have the server loggers mask ``token`` and every ``token=`` value (once each).

    The error log masks passwords too (``RedactingFilter``): the server logs there the
    traceback of an error the dashboard did not expect, whose text may quote a store's
    URL. (Not the access log: its formatter needs the record's arguments, which that
    filter folds into the message.)
    """
    redacted_logger(ERROR_LOGGER)
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        found = next((f for f in logger.filters if isinstance(f, TokenLogFilter)), None)
        if found is None:
            found = TokenLogFilter()
            logger.addFilter(found)
        if token:
            found.tokens.add(token)
