"""Running instances: start, load, complete a task, run steps — one transaction per change — and the rows
every process needs written with it (``task_rows``, ``timer_rows``), the audit events, and replay.

The runtime knows nothing of any domain: a domain registers ``listeners`` (its own projection rows, script
helpers, start data) and the runtime calls them on every change. ``steps`` applies one recorded input to
a workflow and is shared by the commit path and ``replay``, so what is replayed is what was run.
``bundle_replay`` (imported where used: only the CLI needs it) replays an exported audit bundle offline.
"""

from engine.runtime import dry_run, listeners, migration, replay, serialization, store, task_rows, timer_rows
from engine.runtime.instances import (
           Effects,
           Loaded,
           complete_task,
           get_instance,
           load,
           run_steps,
           start,
           task_form,
           validate_task_data,
)
from engine.runtime.workflow import all_tasks, current_data, find_task, ready_user_tasks, state_fingerprint

__all__ = ["Effects", "Loaded", "all_tasks", "dry_run", "complete_task", "current_data", "find_task", "get_instance",
           "listeners", "load", "migration", "ready_user_tasks", "replay", "run_steps", "serialization", "start",
           "state_fingerprint", "store", "task_form", "task_rows", "timer_rows", "validate_task_data"]
