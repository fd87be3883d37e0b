"""``python -m ortdiffusion`` runs the command line."""

import sys

from ortdiffusion.cli import main

sys.exit(main())
