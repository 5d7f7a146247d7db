"""Text that OOXML keeps outside the run flow: SmartArt diagrams (a separate data part per diagram) and
pictures' alternative text."""

from __future__ import annotations

import re
from typing import Any

# Tools that insert a picture often store its file name as the description: that is not text of the document.
_FILE_NAME = re.compile(r"^\S+\.(png|jpe?g|gif|bmp|tiff?|emf|wmf|svg|webp|heic)$", re.IGNORECASE)


def alt_text(description: str | None) -> str:
    """A picture's description as text, or empty when there is none or it is only a file name."""
    text = " ".join((description or "").split())
    return "" if _FILE_NAME.match(text) else text


_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STRICT_RELS = "http://purl.oclc.org/ooxml/officeDocument/relationships"


def _paragraphs(root: Any) -> list[str]:
    texts = []
    for paragraph in root.iter("{*}p"):
        text = " ".join("".join(t.text or "" for t in paragraph.iter("{*}t")).split())
        if text:
            texts.append(text)
    return texts


def smartart_text(element: Any, part: Any) -> list[str]:
    """The node texts of the SmartArt diagrams inside `element` (a graphic frame or a drawing), in the
    diagram data part's order; `part` is the package part `element` belongs to."""
    from lxml import etree

    texts: list[str] = []
    for ids in element.iter("{*}relIds"):
        rid = ids.get(f"{{{_RELS}}}dm") or ids.get(f"{{{_STRICT_RELS}}}dm")
        if not rid or rid not in part.rels:
            continue
        blob = part.rels[rid].target_part.blob
        root = etree.fromstring(blob, etree.XMLParser(resolve_entities=False, no_network=True))
        for point in root.iter("{*}pt"):
            body = point.find("{*}t")
            if body is not None:
                texts += _paragraphs(body)
    return texts
