"""``python -m agent_storage.cli``: the ``agent-storage`` command."""

import sys

from . import main

sys.exit(main())
