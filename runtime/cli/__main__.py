"""``python -m agent_relay.runtime.cli``: the same as the ``relay`` command."""

import sys

from . import console_main

sys.exit(console_main())
