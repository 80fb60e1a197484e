"""A user task's instructions (BPMN ``instructionsForEndUser``): Markdown, with ``{{ field }}`` filled in from
the task data, rendered to HTML that is safe to put on the page.

Anyone who may edit a diagram writes these words, and the task data in them comes from callers and
residents, so neither is trusted: the Markdown is rendered with raw HTML turned off (markdown-it-py), the
result goes through an allow-list sanitizer (nh3) anyway, and field values are escaped for Markdown so a
resident's "[点此](https://evil.example)" shows as typed rather than as a link.
"""

from __future__ import annotations

import re

import nh3
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _escape_markdown(value) -> str:
    """A value as literal text in Markdown: every ASCII punctuation mark backslash-escaped (CommonMark 2.4)."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", "" if value is None else str(value))


# The sandbox stops a diagram's template from reaching Python internals; ``finalize`` escapes every value.
_templates = SandboxedEnvironment(autoescape=False, finalize=_escape_markdown)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

_TAGS = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
         "hr", "table", "thead", "tbody", "tr", "th", "td"}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def render(text: str | None, data: dict) -> Markup | None:
    """Safe HTML for the task page, or ``None`` when the task has no instructions.

    A template that does not render (a typo in a diagram) shows its text as Markdown without the values,
    rather than hiding the form.
    """
    if not text:
        return None
    try:
        source = _templates.from_string(text).render(**{k: v for k, v in data.items() if isinstance(k, str)})
    except Exception:  # noqa: BLE001 - a typo in a diagram must not hide the form
        source = text
    html = _markdown.render(source)
    return Markup(nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                            link_rel="noopener noreferrer"))
