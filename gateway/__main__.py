"""`python -m gateway` runs the credgate command line."""

import sys

from gateway.cli import main

sys.exit(main())
