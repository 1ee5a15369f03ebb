"""Errors raised by the autoaux pipeline.

Every error here carries a one-line message meant for a person at a terminal: the CLI prints
``str(error)`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

__all__ = ["AutoauxError", "ConfigError", "TrackingError"]


class AutoauxError(Exception):
    """Base class of the errors that the autoaux pipeline raises on purpose."""


class ConfigError(AutoauxError, ValueError):
    """A bad configuration key or value.

    The message names, on one line, the file (or other source), the dotted key, the value and
    what is accepted, e.g.::

        run.toml: stage1.gating = 'sometimes': expected one of 'off', 'unweighted', ...

    Attributes:
        key: dotted key of the culprit (``"stage1.gating"``, ``"task[0].path"``), or ``""``.
        value: the offending value (``None`` for a missing key).
        expected: what is accepted, in words.
        source: the file name or ``"<dict>"``; ``None`` until known.
    """

    def __init__(
        self,
        key: str,
        value: object,
        expected: str,
        *,
        source: str | None = None,
        missing: bool = False,
        unknown: bool = False,
    ) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        self.source = source
        self.missing = missing
        self.unknown = unknown
        super().__init__(self._format())

    def _format(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if self.missing:
            return f"{where}{self.key}: missing; expected {self.expected}"
        if self.unknown:
            return f"{where}{self.key}: unknown key; expected {self.expected}"
        return f"{where}{self.key} = {_short(self.value)}: expected {self.expected}"

    def with_source(self, source: str) -> ConfigError:
        """The same error, attributed to ``source`` (kept if it already names one)."""
        if self.source is not None:
            return self
        return ConfigError(
            self.key,
            self.value,
            self.expected,
            source=source,
            missing=self.missing,
            unknown=self.unknown,
        )


class TrackingError(AutoauxError, RuntimeError):
    """The tracking store (MLflow) cannot be reached or refused a request at start."""


def _short(value: object, limit: int = 80) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
