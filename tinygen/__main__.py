"""python -m tinygen: the same as the `tinygen` command."""
import sys

from tinygen.cli import main

sys.exit(main())
