"""Detection and redaction of structured PII (e-mail, phone, IBAN, payment card, national id, IP address).

Detection lives in `docmill.text.pii.detect` (phone numbers in `docmill.text.pii.phones`); this module applies a mode:
redact (typed placeholders), hash (keyed, stable pseudonyms), flag (counts only) or off.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import phonenumbers

from docmill.config.settings import PiiConfig, Settings
from docmill.text.pii.detect import NATIONAL_ID_DETECTORS, Finding, find_pii, find_pii_in_name

__all__ = ["NATIONAL_ID_DETECTORS", "Finding", "Redactor", "find_pii", "key_fingerprint", "load_key", "make_redactor"]

logger = logging.getLogger(__name__)


def _normalise(kind: str, value: str, regions: list[str]) -> str:
    if kind == "email":
        return value.lower()
    if kind == "ip_address":
        if ":" not in value:  # IPv4, possibly zero-padded
            value = ".".join(str(int(octet)) for octet in value.split("."))
        return ipaddress.ip_address(value).compressed
    if kind == "phone":
        for region in [*regions, None]:
            try:
                number = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind in ("person", "organization"):
        return " ".join(value.casefold().split())
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


class Redactor:
    """Applies the configured PII mode to texts: redact, hash (keyed pseudonyms), flag or off."""

    def __init__(self, config: PiiConfig, key: bytes) -> None:
        """Create a redactor.

        Args:
            config: The PII settings.
            key: Secret HMAC key of `hash` mode (see `load_key`).
        """
        self._config = config
        self._key = key

    def apply(self, text: str) -> tuple[str, Counter[str]]:
        """Detect PII and rewrite the text according to the mode.

        Returns:
            The text (placeholders in `redact` and `hash` modes, unchanged in `flag` and `off`) and the number
            of findings per kind (empty in `off` mode).
        """
        if self._config.mode == "off":
            return text, Counter()
        findings = find_pii(text, self._config)
        counts = Counter(f.kind for f in findings)
        if self._config.mode == "flag" or not findings:
            return text, counts
        parts: list[str] = []
        pos = 0
        for finding in findings:
            parts += [text[pos : finding.start], self._placeholder(finding.kind, text[finding.start : finding.end])]
            pos = finding.end
        parts.append(text[pos:])
        return "".join(parts), counts

    def value(self, value: Any) -> Any:
        """A metadata value (connector columns, e-mail headers, document properties) with the PII of its text
        replaced as `apply` would; lists, tuples and mappings item by item; an integer that reads as PII (a phone
        or card number stored as a number) becomes its replacement text; other numbers, dates and flags stay."""
        if isinstance(value, str):
            return self.apply(value)[0]
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
            redacted = self.apply(text)[0]
            return value if redacted == text else redacted
        return value

    def name(self, name: str) -> str:
        """A file, folder, archive-member or attachment name (or a path of them) with its PII replaced as
        `apply` would (`redact` and `hash` modes; unchanged in `flag` and `off`); separators read as spaces for
        detection (`invoice_jane@example.com_2024.pdf`, see `find_pii_in_name`), the name keeps them."""
        if self._config.mode not in ("redact", "hash"):
            return name
        return "/".join(self._name_part(part) for part in name.split("/"))  # one folder or file name at a time

    def _name_part(self, name: str) -> str:
        findings = find_pii_in_name(name, self._config)
        if not findings:
            return name
        parts: list[str] = []
        pos = 0
        for finding in findings:
            parts += [name[pos : finding.start], self._placeholder(finding.kind, name[finding.start : finding.end])]
            pos = finding.end
        return "".join([*parts, name[pos:]])

    def uri(self, uri: str) -> str:
        """A source URI with the PII of its names replaced (see `name`): the percent-encoded parts are read
        decoded, and archive members and attachments (`<container>!/<member>`) too."""
        outer, *members = uri.split("!/")
        split = urlsplit(outer)
        path = unquote(split.path)
        redacted_path = self.name(path)
        netloc = unquote(split.netloc)
        redacted_netloc = self.name(netloc)
        if (redacted_path, redacted_netloc) != (path, netloc):
            rebuilt = urlunsplit(
                (
                    split.scheme,
                    quote(redacted_netloc, safe=":@[]"),
                    quote(redacted_path, safe="/:@!$&'()*+,;=~"),
                    split.query,
                    split.fragment,
                )
            )
            # urlunsplit drops an empty authority's `//` for schemes it does not know (`mbox:///x` -> `mbox:/x`)
            authority = f"{split.scheme}://"
            if outer.startswith(authority) and not rebuilt.startswith(authority):
                rebuilt = authority + rebuilt[len(split.scheme) + 1 :]
            outer = rebuilt
        return "!/".join([outer, *(self.name(m) for m in members)])

    def _placeholder(self, kind: str, value: str) -> str:
        if self._config.mode != "hash":
            return f"<{kind.upper()}>"
        message = f"{kind}:{_normalise(kind, value, self._config.phone_regions)}".encode()
        return f"<{kind.upper()}:{hmac.new(self._key, message, hashlib.sha256).hexdigest()[:8]}>"


def load_key(env_name: str, key_file: Path, create: bool = True) -> bytes:
    """The secret key of `hash` mode.

    Args:
        env_name: Environment variable whose UTF-8 bytes are the key when it is set and not empty.
        key_file: Otherwise the key file (its stripped content); created with 32 random bytes as hex and mode
            0600 when missing (parent folders too) if `create`.
        create: False where only the flow's key may be used (stage work on another process or machine).

    Raises:
        ValueError: when the key file exists but is empty, or is missing and `create` is False.
    """
    from_env = os.environ.get(env_name)
    if from_env:
        return from_env.encode("utf-8")
    if not key_file.exists() and not create:
        raise ValueError(
            f"PII key file {key_file} does not exist on this machine: mount the flow's data folder at the same "
            f"path, or set {env_name} on every machine"
        )
    if not key_file.exists():
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created concurrently: read it below
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            logger.info("created a new PII hash key file at %s", key_file)
    key = key_file.read_bytes().strip()
    if not key:
        raise ValueError(f"PII key file {key_file} is empty: delete it to create a new key, or set {env_name}")
    return key


def key_fingerprint(settings: Settings, create: bool = True) -> str | None:
    """A fingerprint of the `hash` mode key (an HMAC of a fixed message, never the key), None in other modes:
    the flow passes its own to stage work elsewhere, which refuses to redact with another key."""
    config = settings.clean.pii
    if config.mode != "hash":
        return None
    key = load_key(config.hash_key_env, settings.paths.data_dir / "secrets" / "pii.key", create)
    return hmac.new(key, b"docmill pii key fingerprint", hashlib.sha256).hexdigest()[:16]


def make_redactor(settings: Settings, create_key: bool = True) -> Redactor | None:
    """The clean stage's redactor: None in mode `off`; the key (see `load_key`) is only loaded in mode `hash`."""
    config = settings.clean.pii
    if config.mode == "off":
        return None
    if {"person", "organization"} & set(config.types):
        from docmill.text.pii.ner import check_model

        check_model(config.ner_model)  # a missing model stops the run here, with what to do
    key_file = settings.paths.data_dir / "secrets" / "pii.key"
    return Redactor(config, load_key(config.hash_key_env, key_file, create_key) if config.mode == "hash" else b"")
