"""Entry point: ``piesync-desktop`` (or ``python -m piesync_desktop``).

With no command it opens the window (``--profile DIR``, ``--demo``); with a command it is the
headless CLI (``connect``, ``sync``, ``health``, ...), which never loads Qt.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from piesync_desktop.cli import main as cli_main

WINDOW_OPTIONS = {"--demo"}


def wants_window(argv: Sequence[str]) -> bool:
    """True when the arguments hold nothing but the window's own options."""
    rest = list(argv)
    while rest:
        token = rest.pop(0)
        if token == "--profile" and rest:
            rest.pop(0)
        elif token.startswith("--profile=") or token in WINDOW_OPTIONS:
            continue
        else:
            return False
    return True


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_window(argv):
        from piesync_desktop.ui.app import run

        sys.exit(run(argv))
    sys.exit(cli_main(argv))


if __name__ == "__main__":
    main()
