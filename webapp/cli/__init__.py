"""The ``liyuan`` command: an entry point beside the web app, not part of it.

``main`` parses the command line and runs one sub-command (``main.py`` for deploy, init, db, users, audit;
``timers.py`` for the scheduler, timers, SLA and incidents; ``clauses.py`` for the clause matrix;
``simulate.py`` for scenario files). Every
sub-command but ``serve`` drives the engine alone and never imports Flask (a test holds this), so the
scheduler process and scripts stay light; ``serve`` imports the web app when it runs.
"""

from webapp.cli.main import main

__all__ = ["main"]
