"""OCR with the local Tesseract binary (Debian `tesseract-ocr`): page images in, text and confidence out.

Languages come from `extract.ocr_languages` (passed to the parser workers as `OPTIONS`).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from docmill.parsers import OPTIONS, Parsed, ParseError, describe, scrub
from docmill.records import Element


@dataclass(slots=True)
class OcrPage:
    """Text of one page (paragraphs) and Tesseract's mean word confidence (0-100)."""

    paragraphs: list[str]
    confidence: float


def tesseract() -> str:
    """Path of the tesseract binary.

    Raises:
        ParseError: `missing_dependency:tesseract` when it is not installed.
    """
    binary = shutil.which("tesseract")
    if binary is None:
        raise ParseError("missing_dependency:tesseract", "OCR needs Tesseract (Debian package `tesseract-ocr`)")
    return binary


def ocr_png(png: bytes, languages: str | None = None) -> OcrPage:
    """OCR one PNG image with Tesseract's TSV output (words with confidences).

    Tesseract runs single-threaded (`OMP_THREAD_LIMIT=1`): parallelism comes from the parser workers, and
    its OpenMP threads competing with them made a page 7-9x slower on 2 cores (8.8 s vs 1.2 s, DA-1p.png).
    """
    proc = subprocess.run(
        [tesseract(), "stdin", "stdout", "-l", languages or str(OPTIONS.get("ocr_languages", "eng")), "tsv"],
        input=png,
        capture_output=True,
        timeout=float(OPTIONS.get("timeout_s", 600)),
        check=False,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    if proc.returncode != 0:
        raise ParseError("ocr_failed", scrub(proc.stderr.decode(errors="replace")))
    paragraphs: dict[tuple[str, str], list[str]] = {}
    confidences: list[float] = []
    for line in proc.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or not cols[11].strip() or float(cols[10]) < 0:
            continue
        paragraphs.setdefault((cols[2], cols[3]), []).append(cols[11])
        confidences.append(float(cols[10]))
    texts = [" ".join(words) for words in paragraphs.values()]
    return OcrPage(texts, sum(confidences) / len(confidences) if confidences else 0.0)


def parse_image(path: Path, ext: str = "") -> Parsed:
    """OCR every frame of an image (multi-page TIFF included).

    Raises:
        ParseError: `missing_dependency:tesseract`, `missing_dependency:heif-decoder`, `corrupt_image`,
            `no_text_found`.
    """
    from PIL import Image, UnidentifiedImageError

    tesseract()
    if (ext or path.suffix.lower()) == ".heic":
        try:
            from pillow_heif import register_heif_opener
        except ImportError as exc:
            raise ParseError("missing_dependency:heif-decoder", "HEIC needs pillow-heif") from exc
        register_heif_opener()
    try:
        image = Image.open(path)
        frames = getattr(image, "n_frames", 1)
    except (UnidentifiedImageError, OSError) as exc:
        raise ParseError("corrupt_image", describe(exc)) from exc
    elements: list[Element] = []
    confidences: dict[int, float] = {}
    for number in range(frames):
        buffer = io.BytesIO()
        try:  # decoding is lazy: a truncated or damaged image fails here, not at open
            image.seek(number)
            image.convert("RGB").save(buffer, format="PNG")
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ParseError("corrupt_image", f"frame {number + 1}: {exc}"[:300]) from exc
        page = ocr_png(buffer.getvalue())
        confidences[number + 1] = round(page.confidence, 1)
        elements += [Element(text, "text", page=number + 1) for text in page.paragraphs]
    if not elements:
        raise ParseError("no_text_found", f"OCR found no text in {frames} frame(s)")
    meta = {"pages": frames, "ocr": True, "ocr_confidence": confidences, "image_size": list(image.size)}
    return Parsed(elements, meta, "tesseract")
