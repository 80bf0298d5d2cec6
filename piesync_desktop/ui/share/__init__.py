"""Share jobs in the window: one account's contact group pushed, one way, to many accounts.

:class:`ShareJobWizard` sets a new job up (source, group, destinations, name and schedule);
:class:`DestinationDialog` picks one address book to add to a job.
"""

from piesync_desktop.ui.share.destination_dialog import DestinationDialog
from piesync_desktop.ui.share.job_wizard import ShareJobWizard

__all__ = ["DestinationDialog", "ShareJobWizard"]
