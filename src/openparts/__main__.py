"""`python -m openparts`: the CLI without an installed entry point (containers, PYTHONPATH=src)."""

import sys

from openparts.cli import main

sys.exit(main())
