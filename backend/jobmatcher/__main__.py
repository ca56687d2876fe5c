"""`python -m jobmatcher` runs the command line (and, with no command, the app)."""

import sys

from .entry import main

sys.exit(main())
