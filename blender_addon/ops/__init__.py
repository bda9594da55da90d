"""Thin operators: read properties, call bridge/blender_io, report. Registered by ``registration.py``."""
