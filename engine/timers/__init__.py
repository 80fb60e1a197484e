"""Firing BPMN timers from the ``timers`` rows the runtime keeps: the leased poller (``firing``), timer
start events (``start_timers``), incidents, the APScheduler loop (``scheduler``), and how late timers run
(``monitoring``, face below).
"""

from engine.timers.monitoring import (
           LATENESS_BOUNDS_MS,
           MAX_ATTEMPTS,
           OVERDUE_GRACE,
           Lateness,
           Overdue,
           lateness,
           lateness_histogram,
           overdue,
           recent_lateness_ms,
           summarize,
           upcoming,
)

__all__ = ["LATENESS_BOUNDS_MS", "MAX_ATTEMPTS", "OVERDUE_GRACE", "Lateness", "Overdue", "lateness",
           "lateness_histogram", "overdue", "recent_lateness_ms", "summarize", "upcoming"]
