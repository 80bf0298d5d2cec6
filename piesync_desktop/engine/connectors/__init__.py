"""One module per app, all behind the contract in ``base``."""
