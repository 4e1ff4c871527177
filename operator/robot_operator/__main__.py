"""`python -m robot_operator` runs the `robot-operator` command line."""

from robot_operator.cli import main

raise SystemExit(main())
