"""The workflow engine, in rooms named by noun (see engine/README.md).

Generic rooms (core, scripting, forms, identity, audit, repository, runtime, tasks, timers) know nothing of
the 荔园 procedure; ``engine.helpdesk`` stands on them and plugs into the runtime through listeners.
Nothing here imports Flask or the web app.
"""
