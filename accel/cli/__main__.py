"""``python -m accel.cli``, the same as the ``accel`` console script."""

import sys

from . import main

sys.exit(main())
