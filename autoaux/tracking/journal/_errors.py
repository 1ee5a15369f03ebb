"""What a failed tracking call means: an outage, a refused record or a refused client."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from autoaux._secrets import redact_text

# MLflow error codes of a store that refused one record (the next one may pass).
_RECORD_CODES = frozenset(
    {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "ALREADY_EXISTS",
        "RESOURCE_CONFLICT",
        "INVALID_STATE",
        "BAD_REQUEST",
        "NOT_FOUND",
        "ABORTED",
    }
)
# MLflow error codes of a store that refuses the client itself (every record alike).
_CLIENT_CODES = frozenset(
    {"UNAUTHENTICATED", "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED", "ENDPOINT_NOT_FOUND"}
)
_HTTP_CODE = re.compile(r"error code (\d{3})")


def classify_error(error: BaseException) -> str:
    """What a failed tracking call means: ``"outage"`` (a connection error, a timeout, a 5xx or
    429 answer, anything unknown: try again later), ``"record"`` (the store refused this one
    record: a 4xx-like answer, or the record cannot be sent as it is) or ``"client"`` (the
    store refuses this client: 401, 403, or not an MLflow endpoint)."""
    for link in _chain(error):
        if isinstance(link, ConnectionError | TimeoutError):
            return "outage"
        with contextlib.suppress(ImportError):
            import requests

            if isinstance(link, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
                return "outage"
    code = getattr(error, "error_code", None)
    if isinstance(code, str) and code in _CLIENT_CODES:
        return "client"
    if isinstance(code, str) and code in _RECORD_CODES:
        return "record"
    match = _HTTP_CODE.search(str(error))
    status = int(match.group(1)) if match else None
    if status is None and isinstance(code, str):
        with contextlib.suppress(Exception):
            status = int(error.get_http_status_code())  # type: ignore[attr-defined]
    if status is not None:
        if status in (401, 403, 404, 405):
            return "client"
        if 400 <= status < 500 and status not in (408, 429):
            return "record"
        return "outage"
    if isinstance(error, ValueError | TypeError | KeyError | IndexError):
        return "record"
    if isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return "record"
    return "outage"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _short(error: BaseException) -> str:
    text = redact_text(" ".join(str(error).split())) or type(error).__name__
    return text[:300]


class _Outage(Exception):
    """The store could not be reached (after the retries), or refused the client."""


class _Refused(Exception):
    """The store refused one record."""
