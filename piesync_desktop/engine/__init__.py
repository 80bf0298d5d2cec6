"""The sync engine: pure Python, never imports Qt, runs and is tested without a screen."""
