"""``liyuan timers | scheduler | incidents | sla``: operating the deadline timers from a shell.

Registered by :mod:`webapp.cli.main`. Engine-only: nothing here imports Flask. Times are shown in
Asia/Shanghai.
"""

from __future__ import annotations

import logging
import os
import sys

from engine import timers
from engine.core import clock, db
from engine.helpdesk import sla
from engine.timers import incidents


def _t(value) -> str:
    local = clock.to_local(value)
    return local.strftime("%Y-%m-%d %H:%M:%S") if local else "-"


def _ms(value) -> str:
    return "-" if value is None else f"{value / 1000:.3f}s"


def _alarm(missed: timers.Overdue, now) -> str:
    return (f"ALARM: {missed.count} timer(s) overdue by more than {timers.OVERDUE_GRACE.seconds} s, the oldest "
            f"due {_t(missed.oldest_due)} ({missed.minutes(now)} min ago): is a scheduler running "
            f"(`liyuan serve` or `liyuan scheduler`)?")


def cmd_timers(args) -> int:
    with db.read_session() as session:
        missed = timers.overdue(session)
        rows = [] if args.check else timers.upcoming(session, args.limit)
        late = None if args.check else timers.lateness(session, args.recent)
    now = clock.now()
    if args.check:  # for monitoring: one line, exit 1 on the missed-timer alarm
        print(_alarm(missed, now) if missed.count else "ok: no timer is overdue")
        return 1 if missed.count else 0
    if missed.count:
        print(_alarm(missed, now))
        print()
    print(f"upcoming timers ({len(rows)} shown, times Asia/Shanghai)")
    print(f"{'due':<19}  {'in':>9}  {'instance':<36}  {'element':<24} {'sla':<16} {'attempts':>8}  lease")
    for r in rows:
        left = (clock.as_utc(r.due_at) - now).total_seconds()
        lease = r.lease_owner or ""
        error = f"  last error: {r.last_error.splitlines()[0]}" if r.last_error else ""
        print(f"{_t(r.due_at):<19}  {left:>8.0f}s  {r.instance_id or '(start ' + r.process_id + ')':<36}  "
              f"{r.element_id:<24} {r.sla_key or '-':<16} {r.attempts:>8}  {lease}{error}")
    print()
    print(f"lateness of the last {late.count} firings: p50 {_ms(late.p50_ms)}  p99 {_ms(late.p99_ms)}  "
          f"max {_ms(late.max_ms)}")
    return 0


def cmd_scheduler(args) -> int:
    from engine.timers import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)  # a line per task state change is noise here
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return scheduler.run_forever(interval=args.interval)


def cmd_incidents(args) -> int:
    with db.read_session() as session:
        rows = incidents.list_incidents(session, open_only=not args.all)
    if not rows:
        print("no open incidents" if not args.all else "no incidents")
        return 0
    for r in rows:
        state = f"resolved {_t(r.resolved_at)} by {r.resolved_by}" if r.resolved_at else "OPEN"
        print(f"#{r.id}  {_t(r.created_at)}  {state}  instance {r.instance_id or '-'}  element {r.element_id or '-'}"
              f"  timer {r.timer_id or '-'}")
        for line in r.error.splitlines()[:6]:
            print(f"      {line}")
    return 0


def cmd_incidents_retry(args) -> int:
    from engine.core.errors import EngineError

    try:
        with db.transaction() as session:
            incident = incidents.retry_incident(session, args.id, args.actor)
    except EngineError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(f"incident #{incident.id} resolved; its timer fires on the next poll")
    return 0


def cmd_sla(args) -> int:
    with db.read_session() as session:
        rows = sla.all_clocks(session, open_only=args.open, limit=args.limit)
    now = clock.now()
    print(f"{'instance':<36}  {'key':<16} {'element':<22} {'armed':<19}  {'due':<19}  outcome")
    for c in rows:
        if c.status == "met":
            outcome = f"met {_t(c.met_at)}"
        elif c.status == "breached":
            outcome = f"BREACHED {_t(c.breached_at)}"
        else:
            left = sla.remaining(c, now).total_seconds()
            outcome = f"open, {left / 60:.1f} min left" if left >= 0 else f"open, overdue {-left / 60:.1f} min"
        print(f"{c.instance_id:<36}  {c.sla_key:<16} {c.element_id:<22} {_t(c.armed_at):<19}  {_t(c.due_at):<19}  "
              f"{outcome}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("timers", help="upcoming timers and the lateness of recent firings")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--recent", type=int, default=1000, help="firings the lateness figures cover")
    p.add_argument("--check", action="store_true",
                   help="only the missed-timer alarm: exit 1 when a timer is more than a minute overdue")
    p.set_defaults(func=cmd_timers)

    p = sub.add_parser("scheduler", help="run the timer poller alone, in the foreground (SIGTERM stops it)")
    p.add_argument("--interval", type=float, default=0.5, help="tick in seconds")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("incidents", help="failed timers that need an admin")
    p.add_argument("--all", action="store_true", help="include resolved incidents")
    p.set_defaults(func=cmd_incidents)
    isub = p.add_subparsers(dest="incidents_command")
    retry = isub.add_parser("retry", help="re-arm the incident's timer after fixing the cause")
    retry.add_argument("id", type=int)
    retry.add_argument("--actor", default=os.environ.get("USER", "admin"))
    retry.set_defaults(func=cmd_incidents_retry)

    p = sub.add_parser("sla", help="SLA clocks: armed, due, met or breached")
    p.add_argument("--open", action="store_true", help="only clocks still running")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_sla)
