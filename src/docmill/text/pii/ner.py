"""Names of people and organisations through a local spaCy NER model (opt-in: `clean.pii.types`).

The model is loaded from an installed package (`clean.pii.ner_model`, default `en_core_web_sm`, which
`scripts/install.sh` installs for unstructured); nothing is downloaded. Statistical NER misses names and
flags non-names, unlike the validated structured detectors, and it is slow (~10-20k words/s on one core).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from docmill.text.pii.phones import Span

LABELS = {"PERSON": "person", "ORG": "organization"}
_MAX_CHARS = 100_000  # spaCy's memory grows with the text: long texts go through in pieces


class NerModelMissing(RuntimeError):
    """`person`/`organization` detection is configured but the spaCy model cannot be loaded."""


@cache
def _model(name: str) -> Any:
    try:
        import spacy

        return spacy.load(name, disable=["parser", "lemmatizer", "tagger", "attribute_ruler"])
    except (ImportError, OSError) as exc:
        raise NerModelMissing(
            f"clean.pii.types asks for names/organisations, but the spaCy model {name!r} cannot be loaded ({exc}); "
            "install it as a package or remove person/organization from clean.pii.types"
        ) from exc


def check_model(name: str) -> None:
    """Load the model now, so that a missing model stops the run at its start.

    Raises:
        NerModelMissing: with what to do.
    """
    _model(name)


def find_names(text: str, kinds: set[str], model: str) -> Iterator[tuple[str, Span]]:
    """(kind, span) of PERSON (`person`) and ORG (`organization`) entities of the wanted kinds."""
    nlp = _model(model)
    for offset in range(0, len(text), _MAX_CHARS):
        for entity in nlp(text[offset : offset + _MAX_CHARS]).ents:
            kind = LABELS.get(entity.label_)
            if kind in kinds and any(c.isalpha() for c in entity.text):
                yield kind, (offset + entity.start_char, offset + entity.end_char)
