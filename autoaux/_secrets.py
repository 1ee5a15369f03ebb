"""Credentials in tracking URIs are never written out.

A tracking URI may carry a password (``http://user:pw@host/``) or a token in its query
(``...?token=abc``). Two layers keep them in the process:

- by value: every URI the process is configured with (the ``[tracking]`` section, the
  ``--tracking-uri`` option, ``MLFLOW_TRACKING_URI``, every store a tracker or the journal
  connects to) is registered with :func:`register_uri`, which remembers its *literal* secret
  values (the user-info password, or a user-info that is a bare token, and the values of
  credential query parameters, each as written and percent-decoded); MLflow's own
  ``MLFLOW_TRACKING_PASSWORD`` / ``MLFLOW_TRACKING_TOKEN`` are registered the same way by
  :func:`register_environment`. :func:`redact_text` replaces every registered value in a text
  with ``***``, wherever it appears: a password with ``,`` or ``(`` in it, a token quoted
  without its ``scheme://``, a traceback;
- by shape: :func:`redact_uri` replaces the user-info and credential query values of a URI
  with ``***``, and :func:`redact_text` does so for every URI and every ``?token=...`` in a
  text, so a URI never registered is still cleaned.

Values shorter than :data:`MIN_SECRET_LENGTH` characters are not searched for in free text (a
one-letter password would garble every message); they are still removed from URIs by shape.

Everything autoaux writes goes through one of the two: log lines and errors (the command line
installs :class:`RedactingFilter` and :func:`redacting_streams`, so tracebacks and anything else
printed are cleaned too), MLflow params and tags, ``config.json``, ``result.json``, the
checkpoint's ``state.json``, the tracking journal and ``finetune.json``. Pass credentials the
way MLflow reads them instead: ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``) in the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactingFilter",
    "redact_text",
    "redact_uri",
    "redacting_streams",
    "register_environment",
    "register_secret",
    "register_uri",
    "uri_secrets",
]

REDACTED = "***"
#: Shorter secret values are removed from URIs by shape only, never searched for in free text.
MIN_SECRET_LENGTH = 4
# query parameters whose values are credentials (matched anywhere in the lower-cased name)
_SECRET_KEYS = re.compile(r"pass|pwd|secret|token|key|auth|cred|sig|session", re.IGNORECASE)
# scheme://[userinfo@]host... up to whitespace or a quote/bracket that ends a URI in prose
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{},]+")
# a credential parameter anywhere in a text, with or without its URI: ?token=abc, &api_key=abc
_PARAM = re.compile(
    r"(?P<key>[?&;][\w.\-]*(?:pass|pwd|secret|token|key|auth|cred|sig|session)[\w.\-]*=)"
    r"(?P<value>[^&;#\s'\"<>)\]},]+)",
    re.IGNORECASE,
)
# scheme://user:password@ : the password may hold any character but '@' (even '/', '?', '#')
_USERINFO = re.compile(r"^[^:/?#@]*:(?P<password>[^@]*)@")
#: MLflow's credential variables (values registered by :func:`register_environment`).
_SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")

_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


# ----------------------------------------------------------------------------- registering
def uri_secrets(uri: str) -> set[str]:
    """The literal secret values ``uri`` carries: the user-info password (or a user-info
    without ``:``, a bare token) and the values of credential query parameters, each as
    written and percent-decoded. Empty for a URI without credentials or a non-URI."""
    found: set[str] = set()
    if "://" not in uri:
        return found
    rest = uri.split("://", 1)[1]
    match = _USERINFO.match(rest)
    if match and match.group("password"):
        password = match.group("password")
        head = re.split(r"[/?#]", password, maxsplit=1)[0]
        if not (head.isdigit() and len(head) < len(password)):  # not host:port/path@...
            found.add(password)
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if parts is not None:
        if "@" in parts.netloc:
            userinfo = parts.netloc.rsplit("@", 1)[0]
            user, colon, password = userinfo.partition(":")
            found.add(password if colon else user)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if _SECRET_KEYS.search(key):
                found.add(value)
    for match in _PARAM.finditer(uri):
        found.add(match.group("value"))
    out: set[str] = set()
    for value in found:
        out |= {value, unquote(value), quote(value, safe=""), quote(unquote(value), safe="")}
    return {value for value in out if value}


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: :func:`redact_text` replaces it from now on."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        ordered = sorted(_known, key=len, reverse=True)  # the longest first
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_uri(uri: str | None) -> None:
    """Remember the literal secret values of ``uri`` (see :func:`uri_secrets`)."""
    if uri:
        for value in uri_secrets(str(uri)):
            register_secret(value)


def register_environment(environ: Mapping[str, str] | None = None) -> None:
    """Register MLflow's credential variables and the URIs in its URI variables."""
    env = os.environ if environ is None else environ
    for name in _SECRET_VARIABLES:
        register_secret(env.get(name))
    for name in _URI_VARIABLES:
        register_uri(env.get(name))


# ----------------------------------------------------------------------------- redacting
def redact_uri(uri: str) -> str:
    """``uri`` without credentials: user-info becomes ``***@``, credential query values
    ``***``, and every secret value of the URI itself (:func:`uri_secrets`) is gone wherever a
    malformed URI put it. The result depends on ``uri`` alone (never on what was registered),
    so two processes redact one URI alike.

    A value that is not a URI (no ``scheme://``) is returned as it is.
    """
    if "://" not in uri:
        return uri
    secrets = uri_secrets(uri)
    try:
        parts = urlsplit(uri)
    except ValueError:
        return _literal(_redact_userinfo_only(uri), secrets)
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
    if netloc != parts.netloc or query != parts.query:
        uri = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return _literal(uri, secrets)


def _redact_userinfo_only(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    host, slash, tail = rest.partition("/")
    if "@" in host:
        host = f"{REDACTED}@{host.rsplit('@', 1)[1]}"
    return f"{scheme}://{host}{slash}{tail}"


def _literal(text: str, values: Iterable[str]) -> str:
    for value in sorted((v for v in values if v and v != REDACTED), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def redact_text(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***``, :func:`redact_uri`
    applied to every URI in it and every credential parameter (``?token=...``) cleaned."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if "://" in text:
        text = _URI.sub(lambda m: redact_uri(m.group(0)), text)
    if "=" in text:
        text = _PARAM.sub(lambda m: m.group("key") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets in every record it sees, its traceback included
    (installed on the command line's log handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave the record to logging's own handling
            return True
        clean = redact_text(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:  # formatted here, so that it is cleaned
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class _RedactingStream:
    """A text stream that redacts what is written to it before passing it on."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact_text(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacting_streams() -> Iterator[None]:
    """While the body runs, everything written to ``sys.stdout`` and ``sys.stderr`` is redacted
    (progress bars, warnings and tracebacks included)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = _RedactingStream(saved[0])
    sys.stderr = _RedactingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
