"""The CLI run in-process on one profile, as the end-to-end tests use it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from piesync_desktop.cli import main


class Cli:
    """``piesync-desktop --profile PROFILE ...``: the exit code and what it printed."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile

    def __call__(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        code = main(["--profile", str(self.profile), *args], out)
        return code, out.getvalue()

    def json(self, *args: str) -> Any:
        code, text = self(*args, "--json")
        assert code == 0, text
        return json.loads(text)
