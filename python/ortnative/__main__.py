"""python -m ortnative: the ortnative command."""

import sys

from .cli import main

sys.exit(main())
