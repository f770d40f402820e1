"""Masking secrets in text: known secret values (the environment's keys and tokens, the ones a
program teaches it) and secret-looking strings (key shapes, credentials inside URLs).

Every place text leaves relay for people or other systems uses the one ``redact`` of the
process: the command line's logs, and the message contents a trace records when asked to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "***"
# Environment variables whose values are secrets, by name.
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
# Shorter values would mask ordinary words.
_MIN_SECRET_CHARS = 6
_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI-style keys
    re.compile(r"\br8_[A-Za-z0-9]{10,}"),  # Replicate tokens
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{6,}=*"),
    re.compile(r"(?i)(?<=api[_-]key[=:] )[^\s'\",]{6,}"),
    re.compile(r"(?i)(?<=api[_-]key[=:])[^\s'\",]{6,}"),
    re.compile(r"(?i)(?<=api[_-]key': ')[^']{6,}"),
    re.compile(r'(?i)(?<=api[_-]key": ")[^"]{6,}'),
)
# Credentials inside a URL: the password of its userinfo (``http://user:PASS@host``; the
# user name stays, to tell proxies apart), and the value of a key-like query parameter
# (``?key=``, ``api_key``, ``access_token``, ``sig``...), however short.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+(?=@)")
_URL_KEY_PARAMETER = re.compile(
    r"(?i)([?&;][\w.%-]*(?:key|token|secret|passw|pwd|auth|sig|credential|session)[\w.%-]*=)"
    r"[^&#\s'\"<>]+"
)


class Redactor:
    """Masks known secret values and secret-looking strings in text: key shapes, and the
    credentials inside URLs (a userinfo password, key-like query parameters)."""

    def __init__(self, extra_secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self.refresh(extra_secrets)

    def refresh(self, extra_secrets: Iterable[str] = ()) -> None:
        """Learn the secrets now in the environment, and ``extra_secrets``."""
        values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k)}
        values.update(extra_secrets)
        self._values |= {v for v in values if len(v) >= _MIN_SECRET_CHARS}
        # Longest first, so a secret containing another is masked whole.
        self._ordered = sorted(self._values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(MASK, text)
        if "=" in text or "@" in text:
            text = _URL_PASSWORD.sub(rf"\g<1>{MASK}", text)
            text = _URL_KEY_PARAMETER.sub(rf"\g<1>{MASK}", text)
        return text


#: The redactor of this process; the command line teaches it the configured key.
redact = Redactor()
