"""下一页 / 上一页 over keyset cursors (engine.core.keyset): what a list page carries in its links.

A page is named by the cursor it continues after (``after``; none for the first page). To go back, the
links carry the cursors of the pages before it (``trail``, the last ``KEEP`` of them) and the page's number
(``n``); a trail cut short or edited by hand at worst sends 上一页 to the first page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

KEEP = 30  # pages one can step back through
FIRST = "-"  # the trail's name for the first page (it has no cursor)


@dataclass(frozen=True)
class Pager:
    after: str | None
    trail: tuple[str, ...]
    number: int

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Pager:
        after = (args.get("after") or "").strip()[:500] or None
        trail = tuple(t for t in (args.get("trail") or "")[:20000].split(".") if t)[-KEEP:]
        raw = args.get("n") or ""
        number = int(raw) if raw.isdigit() and 1 < int(raw) < 10_000_000 else len(trail) + 1
        if after is None:
            return cls(None, (), 1)
        return cls(after, trail, max(number, 2))

    def next_args(self, cursor: str) -> dict[str, str]:
        """The link arguments of the page after this one, which continues after ``cursor``."""
        trail = (*self.trail, self.after or FIRST)[-KEEP:]
        return {"after": cursor, "trail": ".".join(trail), "n": str(self.number + 1)}

    def prev_args(self) -> dict[str, str] | None:
        """The link arguments of the page before this one; ``None`` on the first page."""
        if self.number <= 1:
            return None
        before = self.trail[-1] if self.trail else FIRST
        if before == FIRST or self.number == 2:
            return {}
        return {"after": before, "trail": ".".join(self.trail[:-1]), "n": str(self.number - 1)}

    def args(self) -> dict[str, str]:
        """This page's own arguments (for a refresh of the same page)."""
        if self.after is None:
            return {}
        return {"after": self.after, "trail": ".".join(self.trail), "n": str(self.number)}
