"""``python -m shapeprep``: the same as the ``shapeprep`` command."""

import sys

from .cli import main

sys.exit(main())
