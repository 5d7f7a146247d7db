"""Subtitles and transcripts (WebVTT, SubRip): the spoken text of each cue, with its speaker; cue ids, timings,
settings, styles, regions and notes are not content. The first and last cue times go to the metadata."""

from __future__ import annotations

import html
import re
from pathlib import Path

from docmill.parsers import Parsed, ParseError
from docmill.parsers.text import read_text
from docmill.records import Element

_TIMING = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{3})\s+-->\s+((?:\d+:)?\d{1,2}:\d{2}[.,]\d{3})")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]*>")
_BLOCK = re.compile(r"\n\s*\n")
_META_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")


def _cue_text(lines: list[str]) -> str:
    """A cue's payload without markup; `<v Speaker>` voices become `Speaker: ` prefixes."""
    out = []
    for line in lines:
        voice = _VOICE.search(line)
        text = html.unescape(_TAG.sub("", line)).strip()
        if voice and text:
            text = f"{voice.group(1).strip()}: {text}"
        if text:
            out.append(text)
    return " ".join(out)


def parse_captions(path: Path, ext: str = "") -> Parsed:
    """WebVTT (`.vtt`) or SubRip (`.srt`): one element per cue (consecutive cues of one speaker stay apart).

    Raises:
        ParseError: `corrupt_captions` when no cue has a timing line, `empty` when no cue has text.
    """
    text, encoding = read_text(path)
    elements: list[Element] = []
    first = last = None
    cues = 0
    for block in _BLOCK.split(text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        timed = next((i for i, line in enumerate(lines) if _TIMING.match(line)), None)
        if timed is None:
            continue  # the header, NOTE/STYLE/REGION blocks, stray text
        cues += 1
        start, end = _TIMING.match(lines[timed]).groups()  # type: ignore[union-attr]
        first, last = first or start, end
        payload = _cue_text(lines[timed + 1 :])
        if payload:
            elements.append(Element(payload, "text"))
    if not cues:
        raise ParseError("corrupt_captions", "no cue timing line (`00:00:01.000 --> 00:00:02.000`) found")
    if not elements:
        raise ParseError("empty", "the cues hold no text")
    meta = {"encoding": encoding, "cues": cues, "start": first, "end": last}
    return Parsed(elements, meta, f"docmill{ext or path.suffix.lower()}")
