"""Firing BPMN timers from the ``timers`` rows the runtime keeps.

Public face: the submodules ``firing`` (the leased poller), ``start_timers`` (timer start events),
``incidents`` (timers that keep failing) and ``scheduler`` (the APScheduler loop; imported by who runs
it, as it pulls APScheduler in), plus how late timers run (``monitoring``, its names below).
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
