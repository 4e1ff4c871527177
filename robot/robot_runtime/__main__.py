"""`python -m robot_runtime`: the same as the `robot-runtime` command."""

from robot_runtime.cli import main

raise SystemExit(main())
