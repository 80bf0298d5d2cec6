"""Entry point: ``piesync-desktop`` (or ``python -m piesync_desktop``)."""

from __future__ import annotations

import sys

from piesync_desktop.cli import main as cli_main


def main() -> None:
    sys.exit(cli_main())


if __name__ == "__main__":
    main()
