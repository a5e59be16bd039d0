"""``python -m plastisim``: the ``plastisim`` command (``plastisim.cli.main``)."""
import sys

from .cli import main

sys.exit(main())
