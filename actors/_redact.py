"""Keep credentials out of everything the engine prints: messages, logs, errors, labels.

Store URLs carry passwords (``postgresql://user:secret@host/db``, ``?password=secret``),
and so do libpq connection strings (``password=secret``). Every message that may quote
a URL or a driver's error goes through ``mask_secrets`` first; ``RedactingFilter`` is a
last line of defence on log handlers, for text the engine did not write itself (a
driver's exception in a traceback).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from actors._text import printable

__all__ = [
    "MASK",
    "URL_EXAMPLE",
    "RedactingFilter",
    "mask_secrets",
    "mask_url",
    "redacted_logger",
    "remember_secrets",
    "secrets_remembered",
]

MASK = "***"
URL_EXAMPLE = "postgresql://user:password@host:port/database"
"""The form of a PostgreSQL store URL as errors show it: its ``password`` is no secret."""
# The example standing alone (white space or the text's ends around it): a password that
# ends in it ("postgresql://u:pw" + URL_EXAMPLE) is one stretch, still masked.
_EXAMPLE = re.compile(rf"(?<!\S){re.escape(URL_EXAMPLE)}(?!\S)")
# Passwords seen in store URLs, masked wherever they appear (a driver's error may quote
# part of a malformed URL that no pattern recognises). Shorter ones are left to the
# patterns: masking every "ab" in every message would garble them.
_KNOWN: set[str] = set()
_MIN_KNOWN = 4
# Where readers of a URL may cut an unencoded password: at an @ (the host starts), a /, ?
# or # (the path, query or fragment starts), a : (the port) or whitespace. Each stretch
# between two cuts may be all a driver's error quotes ("failed to resolve host 'cr#et'"
# of "Se@cr#et/Pass1").
_CUTS = re.compile(r"[@/?#:\s]+")
_MAX_CUTS = 8  # beyond, only the stretches between neighbouring cuts and the ends
# A password piece found inside these words would break the ``password=`` pattern below.
_PARAM_WORD = "sslpassword"

# user:password@ after a scheme: the password runs to the last @ before whitespace or a
# quote. Found in steps (a regular expression for the whole would backtrack into
# quadratic time on a hostile text): a run of scheme characters ending in "://", with a
# letter in it (the scheme starts at the first one); the user and its colon; then the
# last @ of the stretch without whitespace or quotes, found once per stretch.
_SCHEME_RUN = re.compile(r"(?i)(?<![a-z0-9+.\-])[a-z0-9+.\-]*://")
_LETTER = re.compile(r"(?i)[a-z]")
_USER = re.compile(r"[^\s:/@'\"]*:")
_STRETCH_END = re.compile(r"[\s'\"]")
_USERINFO = re.compile(r"(?i)[a-z][a-z0-9+.\-]*://[^\s:/@'\"]*:")  # a URL's scheme://user:
# password=... as a URL query parameter or a libpq keyword (quoted or not). A bare value
# runs to the end of the parameter: &, #, whitespace, or a quote around the URL (a comma
# or colon may be part of the password). A value masked already (a remembered password,
# or an earlier pass) is the mask itself: what follows it (": connection failed") is not
# the password's and stays. ``sslpassword`` (the passphrase of the client's key) is a
# password too, and libpq decodes a URL parameter's name: ``pass%77ord=`` sets one.


def _spelled(word: str) -> str:
    """A pattern of ``word`` with any of its letters percent-encoded (``%77`` for ``w``)."""
    return "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in word)


_PASSWORD_NAME = rf"(?<![\w%])(?:{_spelled('ssl')})?{_spelled('password')}"
_PASSWORD_PARAM = re.compile(
    rf"(?i)({_PASSWORD_NAME}\s*=\s*)("
    + re.escape(MASK)
    + r"(?=[^\w%&#\s'\"]*(?:[&#\s'\"]|$))"
    + r"|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^&#\s'\"]*)"
)


def _url_passwords(text: str) -> Iterator[tuple[int, int]]:
    """Where each ``scheme://user:PASSWORD@`` password of ``text`` starts and ends.

    Linear in ``len(text)``: each character is looked at a bounded number of times.
    """
    resume = 0  # a password's @ ends the URL: the next begins after it
    stretch_end = at = -1  # the stretch without whitespace or quotes, and its last @
    for run in _SCHEME_RUN.finditer(text):
        if run.start() < resume or _LETTER.search(text, run.start(), run.end() - 3) is None:
            continue
        user = _USER.match(text, run.end())
        if user is None:
            continue
        start = user.end()
        if start >= stretch_end:
            stop = _STRETCH_END.search(text, start)
            stretch_end = len(text) if stop is None else stop.start()
            at = text.rfind("@", start, stretch_end)
        if at >= start:
            yield start, at
            resume = at + 1


def _mask_url_passwords(text: str) -> str:
    parts, shown = [], 0
    for start, end in _url_passwords(text):
        parts += [text[shown:start], MASK]
        shown = end
    return "".join([*parts, text[shown:]]) if parts else text


# A store URL mistyped ("postgresql:/u:pw@h", "postgresql//u:pw@h", "u:pw@h/db", a
# third slash that leaves it no host, or "u:pw@h://db") is no URL to the patterns above, but its
# user:password@ is still plain to whoever reads the message that quotes it back. Its
# scheme, however mistyped, is a run of scheme characters and then a colon, slashes, or
# both.
_LOOSE_SCHEME = re.compile(r"(?i)\s*[a-z][a-z0-9+.\-]*(?::[/\\]*|[/\\]+)")


def _loose_password(url: str) -> tuple[int, int] | None:
    """Where the password of a store URL mistyped as above starts and ends, or ``None``.

    Read only in a string given as a store URL (``remember_secrets``, ``mask_url``), and
    only when it has no host after ``://``: a well-formed URL's ``@`` may be its query's.
    Linear in ``len(url)``.
    """
    scheme, sep, rest = url.partition("://")
    host_or_file = not rest.startswith(("/", "\\")) or scheme.strip().lower() == "sqlite"
    if sep and "@" not in scheme and host_or_file:
        return None  # a host follows, or a file's path (which may hold ":" and "@")
    at = url.rfind("@", 0, len(scheme) if sep and "@" in scheme else len(url))
    if at < 0:
        return None
    head = _LOOSE_SCHEME.match(url, 0, at)
    # After the scheme, user:password; failing that ("u:pw@h" reads as scheme "u:"),
    # the whole head is user:password, unless the "password" is the path of a URL that
    # has no password ("postgresql:/u@h").
    for start in ([head.end()] if head else []) + [0]:
        colon = url.find(":", start, at)
        if colon < 0 or any(c in url[start:colon] for c in "/\\@"):
            continue
        if colon + 1 < at and url[colon + 1] not in "/\\":
            return colon + 1, at
    return None


def remember_secrets(url: str) -> None:
    """Mask the password(s) ``url`` holds in every later message, wherever they appear.

    A password a URL holds unencoded may have whitespace or ``@`` in it, which each
    reader splits differently (libpq takes the first ``@`` for the host's start, a URL
    parser the last): the password as the URL's own parser reads it is remembered too,
    and so is each piece of it between two ``@``, so no reading of the URL leaves a
    piece of it shown in an error that quotes only that piece.
    """
    found = [url[start:end] for start, end in _url_passwords(url)]
    found += [m.group(2).strip("'\"") for m in _PASSWORD_PARAM.finditer(url)]
    try:
        parsed = urlsplit(url).password
    except ValueError:  # a malformed port or bracket: the patterns above still apply
        parsed = None
    if parsed:
        found.append(parsed)
    if (loose := _loose_password(url)) is not None:
        found.append(url[loose[0] : loose[1]])
    # The URL is one string: its password may hold whitespace, where the pattern above
    # stops, and run to the URL's last @.
    whole = _USERINFO.match(url)
    if whole is not None and (at := url.rfind("@")) > whole.end():
        found.append(url[whole.end() : at])
    for secret in found:
        for form in {secret, unquote(secret)}:
            for piece in _pieces(form):
                if len(piece) >= _MIN_KNOWN and piece != MASK and piece.lower() not in _PARAM_WORD:
                    _KNOWN.add(piece)


def secrets_remembered() -> int:
    """How many passwords ``remember_secrets`` holds (it only adds).

    A text masked before it last grew may hold one of the new ones: a cache of masked
    texts keys them by this count.
    """
    return len(_KNOWN)


def _pieces(form: str) -> set[str]:
    """``form`` and each stretch of it between two places a reader may cut it, ends included.

    A reader that cuts at one @ shows what comes before it or after it (libpq takes the
    rest for the host name, "ss@w0rd@db" of "p@ss@w0rd"), one that cuts at two shows
    what lies between.
    """
    cuts = list(_CUTS.finditer(form))
    starts = [0, *(cut.end() for cut in cuts)]
    ends = [*(cut.start() for cut in cuts), len(form)]
    if len(cuts) > _MAX_CUTS:
        return {form, *(form[a:b] for a, b in zip(starts, ends, strict=True))} | {
            *(form[a:] for a in starts),
            *(form[:b] for b in ends),
        }
    return {form[a:b] for i, a in enumerate(starts) for b in ends[i:]}


def mask_secrets(text: str) -> str:
    """``text`` with every password in a URL or connection string replaced by ``***``.

    Also masks, anywhere in ``text``, each password ``remember_secrets`` was given.
    """
    # A copy (another thread may remember one meanwhile), longest first: a password that
    # begins with another is masked whole, not left with its tail showing.
    for secret in sorted(_KNOWN, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    if "password" not in text.lower() and "@" not in text and "%" not in text:
        return text  # the common case: nothing to look at
    if URL_EXAMPLE in text:  # the accepted forms of a store URL, shown as they are
        return URL_EXAMPLE.join(_mask_patterns(piece) for piece in _EXAMPLE.split(text))
    return _mask_patterns(text)


def _mask_patterns(text: str) -> str:
    """``text`` with the passwords the patterns find masked (URLs', ``password=``)."""
    text = _mask_url_passwords(text)
    return _PASSWORD_PARAM.sub(rf"\g<1>{MASK}", text)


ERROR_CHARS = 10_000
"""The most of an error's text a job keeps: it is stored with every save, logged, and
shown by ``jobs show`` and the dashboard (an exception may carry megabytes)."""


def error_text(error: str) -> str:
    """``error`` as a job keeps it: its secrets masked, cut to ``ERROR_CHARS``."""
    text = mask_secrets(error)  # whole, then cut: a password cut in two is still masked
    if len(text) <= ERROR_CHARS:
        return text
    return f"{text[:ERROR_CHARS]} ... [{len(text) - ERROR_CHARS:,} more characters]"


def mask_url(url: str) -> str:
    r"""``url`` with any password replaced by ``***`` (for messages and ``Store.url``).

    Its control characters are written as escapes (``\x1b``): a URL is printed in
    headers and titles, where an escape sequence in a path would drive the terminal.
    """
    loose = _loose_password(url)
    if loose is not None:  # a mistyped URL's password, however short
        url = f"{url[: loose[0]]}{MASK}{url[loose[1] :]}"
    return printable(mask_secrets(url))


def redacted_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with a ``RedactingFilter`` (added once).

    A logger's filters see only the records logged through it, so each logger the
    package logs through gets its own.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


_JOB_KEYS = ("job_id", "step", "attempt")  # what every record of the package carries


class RedactingFilter(logging.Filter):
    r"""A handler filter that masks passwords in a record's message and traceback.

    Control characters in the message (a terminal's escape in a job id, say) other than
    tab and newline are written as escapes (``\x1b``), and so are the line separators and
    the bidirectional controls (``actors._text.printable``): a log read in a terminal
    shows them.

    The message is formatted (``msg % args``) and masked, and so is the traceback text
    of ``exc_info`` (its control characters escaped too), which standard formatters then
    print as given.

    A record gets ``job_id``, ``step`` and ``attempt`` as ``None`` unless it was logged
    about a job with them (``extra=``): a format that names them (the observing guide's)
    then formats every record of the package, a store's too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops one."""
        for key in _JOB_KEYS:
            if not hasattr(record, key):
                setattr(record, key, None)
        message = record.getMessage()
        masked = mask_secrets(message)
        # An id or an error may hold a terminal's escape: shown, not obeyed.
        masked = printable(masked)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        # A traceback quotes its exception's text (a task's, say): escaped as the message is.
        if record.exc_text:
            record.exc_text = printable(mask_secrets(record.exc_text))
        if record.stack_info:
            record.stack_info = printable(mask_secrets(record.stack_info))
        return True
