"""Chinese that reads right: no half-width punctuation next to Chinese text in what people read.

Scans every diagram (names, documentation, instructions), form (titles, descriptions, choices) and page
template. Code is not text: Jinja tags, BPMN scripts, conditions and property values, and ``<code>`` are
left out. A clause list marker ("1)", "2)a") counts as punctuation too, so the procedure's own numbering
reads "1）" in the product.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CJK = "\u4e00-\u9fff\u3000-\u303f\uff00-\uffef"
HALF_WIDTH = re.compile(f"(?<=[{CJK}])[,:;?!()]|[,:;?!()](?=[{CJK}])")
CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|<bpmn:script>.*?</bpmn:script>"
                  r"|<bpmn:conditionExpression[^>]*>.*?</bpmn:conditionExpression>"
                  r"|<spiffworkflow:(?:pre|post)Script>.*?</spiffworkflow:(?:pre|post)Script>"
                  r"|<spiffworkflow:property [^>]*/>|<code>.*?</code>", re.S)


def _texts():
    for pattern in ("bpmn/*.bpmn", "forms/*.json", "webapp/templates/**/*.html"):
        yield from sorted(ROOT.glob(pattern))


def _offences(text: str) -> list[str]:
    masked = CODE.sub(" ", text)
    return [masked[max(0, m.start() - 12):m.end() + 12].replace("\n", " ") for m in HALF_WIDTH.finditer(masked)]


def test_the_scan_finds_half_width_punctuation_and_leaves_code_alone():
    assert _offences("处理中,请稍候") == ["处理中,请稍候"]
    assert _offences("投诉求助处理(4.4)") and _offences("1)客户求助")
    assert _offences("{{ field('phone', '手机号') }}<script>x</script>") == []
    assert _offences("处理中，请稍候（4.4）") == []


def test_diagrams_forms_and_pages_use_full_width_punctuation_in_chinese_text():
    found = {}
    for path in _texts():
        offences = _offences(path.read_text(encoding="utf-8"))
        if offences:
            found[str(path.relative_to(ROOT))] = offences[:3]
    assert not found, f"half-width punctuation next to Chinese text: {found}"
