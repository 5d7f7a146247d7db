"""Item errors and their descriptions: `ParseError(reason, message)` is how a parser (or a worker process)
says that one document cannot be read, with a specific reason code; `describe` turns any exception into its
class and position without the document text libraries like to quote (messages go to the quarantine, the
audit trail and the logs). The parsers re-export all three."""

from __future__ import annotations

import re


class ParseError(Exception):
    """A document that cannot be parsed, with a specific reason code (`corrupt_pdf`, `encrypted`, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


# a quoted span; a single quote between two letters (`Jane's`) is an apostrophe inside it, not its end
_QUOTED = re.compile(r"""'(?:[^'\n]|(?<=\w)'(?=\w))*'|"[^"\n]*"|`[^`\n]*`|«[^»\n]*»""")
# exceptions whose message is the looked-up key or name itself (a zip member, a header's charset): input text
_NAMES_THE_INPUT = (LookupError,)


def scrub(text: str, limit: int = 200) -> str:
    """A library's error text without what it quotes (libraries quote the document's text they choke on): the
    first line, quoted spans replaced by `'…'`, at most `limit` characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return _QUOTED.sub("'…'", first)[:limit]


def describe(exc: BaseException) -> str:
    """A parser exception as its class and position, never the document's text: `YAMLError at line 3 column
    7: mapping values are not allowed here`. The position comes from the exception's mark, `lineno`/`colno` or
    `position`; the detail is the library's problem statement with quoted text removed (`scrub`)."""
    name = type(exc).__name__
    mark = getattr(exc, "problem_mark", None)  # PyYAML: its str() quotes the offending lines
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    else:
        line = getattr(exc, "lineno", None)
        position = getattr(exc, "position", None)  # a (line, column) pair, or a character offset (PyYAML reader)
        column = getattr(exc, "colno", None) or (position[1] if isinstance(position, tuple) else None)
    where = f" at line {line}" + (f" column {column}" if column else "") if line else ""
    if not where and isinstance(getattr(exc, "position", None), int):
        where = f" at character {exc.position}"  # type: ignore[attr-defined]
    detail = getattr(exc, "problem", None) or getattr(exc, "msg", None) if mark is not None else None
    log = getattr(exc, "error_log", None)  # lxml: the libxml2 error type, not its message (which names tags)
    if log is not None and getattr(log, "last_error", None) is not None:
        detail = log.last_error.type_name
    if detail is None and isinstance(exc, _NAMES_THE_INPUT) and not isinstance(exc, UnicodeError):
        return f"{name}{where}"  # KeyError, IndexError, LookupError: their text is the input's own
    if detail is None:
        detail = getattr(exc, "msg", None) if isinstance(getattr(exc, "msg", None), str) else str(exc)
    text = scrub(str(detail))
    return f"{name}{where}: {text}" if text else f"{name}{where}"
