"""The inbox: who may work on a task, claiming, releasing, 派单 and completing, over the ``tasks`` rows the
runtime keeps (:mod:`engine.runtime.task_rows`).
"""

from engine.tasks.inbox import (
    DISPATCHERS,
    assign,
    claim,
    complete,
    cursor_of,
    get,
    inbox,
    inbox_total,
    may_work_on,
    offered_clause,
    offered_to,
    queue_page,
    release,
)

__all__ = ["DISPATCHERS", "assign", "claim", "complete", "cursor_of", "get", "inbox", "inbox_total", "may_work_on", "offered_clause", "offered_to", "queue_page", "release"]
