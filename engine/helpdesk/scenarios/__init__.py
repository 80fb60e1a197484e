"""The procedure's scenario files (``bpmn/scenarios/*.yaml``) run as its tests.

``runner``: load a file and run it step by step (start a request the way the web does, complete tasks from
the named user's inbox, move the clock, check what should hold). ``runs``: give each run its own throwaway
database with the diagrams deployed, and read from the runs' audit logs which clauses they passed through.
Used by ``liyuan simulate``, ``liyuan clauses --tests`` and the test suite and the studio (``concerning``, ``write_procedure``).
"""

from engine.helpdesk.scenarios.runner import Outcome, ScenarioError, load, run
from engine.helpdesk.scenarios.runs import (
           concerning,
           proven_clauses,
           run_files,
           scenario_files,
           write_procedure,
)

__all__ = ["Outcome", "ScenarioError", "concerning", "load", "proven_clauses", "run", "run_files", "scenario_files",
           "write_procedure"]
