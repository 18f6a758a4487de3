"""``python -m foresight_models.cli``: the ``foresight`` command, also for ``accelerate launch -m foresight_models.cli``."""

import sys

from . import main

sys.exit(main())
