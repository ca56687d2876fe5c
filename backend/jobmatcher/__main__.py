"""`python -m jobmatcher` runs the command line (and, with no command, the app)."""

import sys

from .cli import main

sys.exit(main())
