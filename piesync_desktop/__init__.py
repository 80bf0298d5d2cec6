"""piesync-desktop: keeps a person's contacts in sync between the apps they use."""
