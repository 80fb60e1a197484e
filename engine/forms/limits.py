"""The shape every value taken in must have, whoever sends it: the limits that JSON Schema cannot state.

A form's schema says how long a text may be and which numbers make sense; it cannot say "no NUL byte", "no
lone surrogate" or "not NaN", and it does not bound nesting. Those values break storage rather than
meaning — PostgreSQL refuses a NUL in text (a 500), UTF-8 cannot encode a lone surrogate, ``NaN`` is not
JSON so the stored document becomes unreadable — so they are refused here, for the web pages, the API and
the engine alike, before anything is written. Phone numbers are normalised here too: people type them
with a Chinese input method (full-width digits) and as landlines (0755-8888 6666).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

#: Deepest nesting of objects and lists accepted (a form is 2–3 deep).
MAX_DEPTH = 32
#: Integers beyond this lose precision in JavaScript and in PostgreSQL's JSON numbers read as doubles.
MAX_SAFE_INTEGER = 2**53 - 1
#: The longest text a form field may declare (``maxLength``); free text is 2000 in our forms.
MAX_TEXT_LENGTH = 10_000

# C0 controls except tab, line feed and carriage return (a textarea posts those), DEL, and lone surrogates.
_BAD_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, in Chinese; ``None`` when it can."""
    match = _BAD_CHARACTER.search(text)
    if match is None:
        return None
    if "\ud800" <= match.group() <= "\udfff":
        return "含有无效的字符编码（不成对的代理字符）"
    return "含有不可见的控制字符，请删除后重试"


def number_problem(value: int | float) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "数值无效（不接受 NaN 或无穷大）"
    if abs(value) > MAX_SAFE_INTEGER:
        return "数值超出允许范围"
    return None


def problem_in(value: Any) -> str | None:
    """The first reason (Chinese) why a JSON-like value cannot be taken in, or ``None``.

    Walks without recursion, so a value nested deeper than the interpreter's stack is reported, not crashed on.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"数据嵌套层数过多（最多{MAX_DEPTH}层）"
            if isinstance(item, dict):
                for key, inner in item.items():
                    if isinstance(key, str) and (problem := text_problem(key)):
                        return problem
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            if problem := text_problem(item):
                return problem
        elif isinstance(item, int | float) and (problem := number_problem(item)):
            return problem
    return None


# --- phone numbers -----------------------------------------------------------------------------------------

_PHONE_PUNCTUATION = str.maketrans({"（": "(", "）": ")", "－": "-", "—": "-", "–": "-", "　": " ", "＋": "+"})
_MOBILE = re.compile(r"(?:\+?86)?1[3-9][0-9]{9}")
# 0755-8888 6666, (0755)88886666, 010 6552 9988 转 123, 400-830-6688 转 2, 95598, +852 2123 4567
# Also written as a standard pattern for the OpenAPI document, hence no flags and ASCII classes only.
PHONE_PATTERN = r"\+?\(?[0-9][0-9 ()\-]{3,22}[0-9](?: ?(?:转|-|[eE][xX][tT]\.?|[xX]) ?[0-9]{1,6})?"
_ANY_PHONE = re.compile(PHONE_PATTERN)


def normalise_phone(text: str) -> str:
    """Full-width digits and punctuation to ASCII (NFKC), trimmed: "１３８００１３８０００" -> "13800138000"."""
    return unicodedata.normalize("NFKC", text.translate(_PHONE_PUNCTUATION)).strip()


def is_phone(text: str) -> bool:
    """A mobile or a landline (with area code, spaces, dashes, an extension) or a short service number."""
    return bool(_ANY_PHONE.fullmatch(text)) and 5 <= sum(c.isdigit() for c in text) <= 20


def is_mobile(text: str) -> bool:
    return bool(_MOBILE.fullmatch(text.replace(" ", "").replace("-", "")))
