"""``python -m webapp.cli …`` runs the ``liyuan`` command (the tests and benchmarks start it this way)."""

from webapp.cli.main import main

raise SystemExit(main())
