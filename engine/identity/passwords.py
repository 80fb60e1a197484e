"""What a password must be: OWASP ASVS 4.0.3 level 2 (2.1.1, 2.1.2, 2.1.7) — at least 12 characters, at
most 128, and not one of the passwords people pick most often.

Length is the rule that matters (no "one capital, one digit" composition rules: ASVS 2.1.9 forbids them,
they push people to ``Password1!``). ``common-passwords.txt.gz`` beside this module is the list Django
ships (``django/contrib/auth/common-passwords.txt.gz``, BSD licence: 20 000 passwords, lower-cased, from
Royce Williams' compilation of leaked passwords), plus a few that are common on Chinese sites and long
enough to pass the length rule. It is read once, on the first check.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

MIN_LENGTH = 12
MAX_LENGTH = 128

# Common on Chinese sites and at least 12 characters, so the length rule alone would let them through.
_LOCAL_COMMON = ("woaini1314520", "woaini5201314", "aa1234567890", "qwertyuiop123", "1qaz2wsx3edc",
                 "1234567890abc", "abc1234567890", "123456789abc", "password1234", "a12345678910",
                 "qq1234567890", "liyuan123456", "liyuanwuye123")


@functools.cache
def _common() -> frozenset[str]:
    data = resources.files(__package__).joinpath("common-passwords.txt.gz").read_bytes()
    words = gzip.decompress(data).decode("utf-8").split()
    return frozenset(w.strip().lower() for w in words) | frozenset(_LOCAL_COMMON)


def is_common(password: str) -> bool:
    return password.strip().lower() in _common()


def problem(password: str, *, username: str | None = None, phone: str | None = None) -> str | None:
    """Why ``password`` may not be used, in Chinese; ``None`` when it may."""
    if len(password) < MIN_LENGTH:
        return f"密码至少{MIN_LENGTH}位"
    if len(password) > MAX_LENGTH:
        return f"密码不超过{MAX_LENGTH}位"
    if len(set(password)) < 4:
        return "密码过于简单（重复的字符太多），请换一个"
    lowered = password.strip().lower()
    if any(lowered == (v or "").strip().lower() for v in (username, phone) if v):
        return "密码不能与用户名或手机号相同"
    if is_common(password):
        return "该密码过于常见，容易被猜中，请换一个"
    return None
