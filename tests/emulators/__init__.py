"""Emulators of cloud APIs, served on loopback for the connectors' tests."""
