"""Preferences, window-manager properties and the sidebar panel. Registered by ``registration.py``."""
