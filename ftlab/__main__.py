import sys

from ftlab.tools.cli import main

sys.exit(main())
