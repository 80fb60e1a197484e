"""The inbox: who may work on a task, claiming, releasing, 派单 and completing, over the ``tasks`` rows the
runtime keeps (:mod:`engine.runtime.task_rows`).
"""

from engine.tasks.inbox import (
    DISPATCHERS,
    add_refusal,
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
    refusal,
    refused_message,
    release,
)

__all__ = ["DISPATCHERS", "add_refusal", "assign", "claim", "complete", "cursor_of", "get", "inbox", "inbox_total",
           "may_work_on", "offered_clause", "offered_to", "queue_page", "refusal", "refused_message", "release"]
