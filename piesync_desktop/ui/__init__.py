"""The window, the wizard, Health, Trash review and the tray: Qt only. It shows the store and
starts engine work in workers; every decision about contacts stays in ``piesync_desktop.engine``.
"""
