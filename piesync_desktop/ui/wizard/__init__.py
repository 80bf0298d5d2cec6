"""The connection wizard: app choice and authorization for both sides, direction, mappings, rules,
options and a name; the same pages edit a saved connection."""

from piesync_desktop.ui.wizard.wizard import ConnectionWizard

__all__ = ["ConnectionWizard"]
