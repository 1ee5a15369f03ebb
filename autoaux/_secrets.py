"""Credentials in tracking URIs are never written out.

A tracking URI may carry a password (``http://user:pw@host/``) or a token in its query
(``...?token=abc``). :func:`redact_uri` replaces both with ``***``; :func:`redact_text` does the
same to every URI inside a longer text (a log line, an error message). Everything autoaux writes
(log lines, errors, MLflow params and tags, ``config.json``, ``result.json``, the checkpoint's
``state.json``) goes through one of the two. Pass credentials the way MLflow reads them
instead: ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``) in the environment.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "RedactingFilter", "redact_text", "redact_uri"]

REDACTED = "***"
# query parameters whose values are credentials (matched anywhere in the lower-cased name)
_SECRET_KEYS = re.compile(r"pass|pwd|secret|token|key|auth|cred|sig|session", re.IGNORECASE)
# scheme://[userinfo@]host... up to whitespace or a quote/bracket that ends a URI in prose
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{},]+")


def redact_uri(uri: str) -> str:
    """``uri`` without credentials: user-info becomes ``***@``, credential query values ``***``.

    A value that is not a URI (no ``scheme://``) is returned as it is.
    """
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:
        return _redact_userinfo_only(uri)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_KEYS.search(k) for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*"
            )
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_userinfo_only(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    host, slash, tail = rest.partition("/")
    if "@" in host:
        host = f"{REDACTED}@{host.rsplit('@', 1)[1]}"
    return f"{scheme}://{host}{slash}{tail}"


def redact_text(text: str) -> str:
    """``text`` with :func:`redact_uri` applied to every URI in it."""
    if "://" not in text:
        return text
    return _URI.sub(lambda m: redact_uri(m.group(0)), text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts credentials in URIs of every record it sees (installed on
    the command line's log handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave the record to logging's own handling
            return True
        clean = redact_text(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
