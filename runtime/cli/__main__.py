"""``python -m agent_relay.runtime.cli``: the same as the ``relay`` command."""

import sys

from . import main

sys.exit(main())
