"""``python -m roofline`` runs the CLI."""

import sys

from roofline.cli import main

sys.exit(main())
