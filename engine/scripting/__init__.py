"""The restricted script environment for BPMN scripts, gateway conditions and timer expressions.

Public face: ``script_engine()`` (a SpiffWorkflow script engine for one workflow), ``check()`` (the same
compiler at deploy time), ``RestrictedEnvironment`` (to evaluate one expression against task data),
``ScriptRejected``, ``ScriptOverBudget`` (a script ran out of its time or memory budget, see
:mod:`engine.scripting.budget`), and the recorded helpers a domain registers (``register_recorded_helper``)
whose results are written into the audit log so a replay sees what the original run saw.
"""

from engine.scripting import budget
from engine.scripting.sandbox import (
           HELPERS,
           RestrictedEnvironment,
           ScriptOverBudget,
           ScriptRejected,
           check,
           recorded_helper_names,
           recorded_helpers,
           register_recorded_helper,
           script_engine,
)

__all__ = ["HELPERS", "RestrictedEnvironment", "ScriptOverBudget", "ScriptRejected", "budget", "check",
           "recorded_helper_names", "recorded_helpers", "register_recorded_helper", "script_engine"]
