"""`python -m hni_engine.cli`: the `hni` command without its console script."""

import sys

from hni_engine.cli.app import main

sys.exit(main())
