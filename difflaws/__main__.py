import sys

from difflaws.cli import main

sys.exit(main())
