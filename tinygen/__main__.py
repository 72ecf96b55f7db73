"""python -m tinygen: the same as the `tinygen` command."""
import sys

try:
    from tinygen.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command is still importing
    print("tinygen: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
