"""What drives the timer poller: an APScheduler interval tick, in-process or as its own process.

APScheduler is only the metronome. Its job store is memory and holds one job, the tick; BPMN timers live
in the ``timers`` table (see :mod:`engine.timers`), so nothing is lost when a process stops and any
number of scheduler processes can share a PostgreSQL database. A tick drains everything due (oldest
first, which at start-up is the downtime backlog) and then, if the next timer comes due before the next
tick, waits for it inside the tick — so a timer fires within milliseconds of its due time, not up to an
interval late.

A second job sends the notifications outbox (:func:`engine.notify.delivery.send_due`) every
``OUTBOX_INTERVAL`` seconds, in its own thread so a slow SMS provider never delays a timer. Several
scheduler processes may run it at once: messages are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from engine.core import clock, db
from engine.notify import delivery
from engine.timers import firing, trouble

log = logging.getLogger(__name__)
DEFAULT_INTERVAL = 0.5
OUTBOX_INTERVAL = 2.0


class _QuietOverlaps(logging.Filter):
    """A tick that drains a long backlog overlaps the next ones by design; don't warn about each skip."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_QuietOverlaps())


class TimerScheduler:
    def __init__(self, url: str | None = None, *, interval: float = DEFAULT_INTERVAL,
                 poller: firing.Poller | None = None):
        self.poller = poller or firing.Poller(url)
        self.url = url
        self.interval = interval
        self._stop = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self.ticks = 0

    def start(self) -> TimerScheduler:
        self._stop.clear()
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()}, executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}, timezone=dt.UTC)
        self._scheduler.add_job(self.tick, IntervalTrigger(seconds=self.interval), id="timer-poller",
                                name="timer poller", next_run_time=dt.datetime.now(dt.UTC))
        self._scheduler.add_job(self.send_messages, IntervalTrigger(seconds=OUTBOX_INTERVAL), id="outbox",
                                name="notifications outbox")  # first pass after the start-up backlog of timers
        self._scheduler.add_job(self.refresh_statistics, IntervalTrigger(hours=1), id="statistics",
                                name="planner statistics", next_run_time=dt.datetime.now(dt.UTC))
        self._scheduler.start()
        log.info("timer scheduler started (%s, every %ss)", self.poller.owner, self.interval)
        return self

    def refresh_statistics(self) -> None:
        """The planner's statistics follow the tables' growth (SQLite; see ``db.refresh_statistics``)."""
        try:
            db.refresh_statistics(self.url)
        except Exception:  # a busy database: the next hour will do
            log.exception("refreshing planner statistics failed")

    def tick(self) -> None:
        if self._stop.is_set():
            return
        self.ticks += 1
        try:
            self.poller.run_due(stop=self._stop)
            while not self._stop.is_set() and not self.poller.database.paused() and self.poller.is_active():
                upcoming = self.poller.next_due()
                if upcoming is None:
                    break
                wait = (upcoming - clock.now()).total_seconds()
                if wait > self.interval:
                    break
                if wait > 0 and self._stop.wait(wait):
                    break
                handled = self.poller.run_due(stop=self._stop).total
                if wait <= 0 and handled == 0:  # due, yet nothing this poller could take: next tick
                    break
        except Exception as exc:  # keep ticking: the next tick retries
            if trouble.is_database_trouble(exc):
                self.poller.database.note(exc)  # pause the poller, as a failed pass does
            else:
                log.exception("timer tick failed")

    def send_messages(self) -> None:
        """One pass over the outbox (the second job): what is due is sent, failures wait for their retry."""
        if self._stop.is_set() or self.poller.database.paused():
            return
        try:
            delivery.send_due(self.poller.url, owner=self.poller.owner, stop=self._stop)
        except Exception as exc:  # keep running: the next pass retries
            if trouble.is_database_trouble(exc):
                self.poller.database.note(exc)
            else:
                log.exception("outbox pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        try:
            self.poller.release()
            delivery.release(self.poller.url, self.poller.owner)
        except Exception:
            log.exception("could not release timer or outbox leases")
        log.info("timer scheduler stopped")


def start_in_process(url: str | None = None):
    """For ``liyuan serve``: run the poller in this process. Returns ``stop()``.

    Set ``LIYUAN_SCHEDULER=external`` when timers are fired by separate ``liyuan scheduler`` processes
    (multi-worker deployments) so web workers don't poll too.
    """
    if os.environ.get("LIYUAN_SCHEDULER", "").lower() in ("external", "off", "0"):
        return lambda: None
    return TimerScheduler(url).start().stop


def run_forever(url: str | None = None, *, interval: float = DEFAULT_INTERVAL) -> int:
    """For ``liyuan scheduler``: run in the foreground until SIGTERM or SIGINT, then stop cleanly."""
    done = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %s: stopping", signum)
        done.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    service = TimerScheduler(url, interval=interval).start()
    print(f"timer scheduler running as {service.poller.owner}", flush=True)
    try:
        while not done.wait(3600):
            pass
    finally:
        service.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
