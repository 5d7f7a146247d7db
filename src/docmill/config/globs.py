"""Include/exclude globs over POSIX paths relative to a source's root (`ingest.include`, `enrich.categories`)."""

from __future__ import annotations

from fnmatch import fnmatchcase


def glob_match(relative: str, pattern: str) -> bool:
    """Match a POSIX relative path against a glob where `**/` may also match zero folders."""
    if fnmatchcase(relative, pattern):
        return True
    return pattern.startswith("**/") and glob_match(relative, pattern[3:])


def selected(relative: str, include: list[str], exclude: list[str]) -> bool:
    """True when `relative` matches an include glob and no exclude glob."""
    return any(glob_match(relative, p) for p in include) and not any(glob_match(relative, p) for p in exclude)
