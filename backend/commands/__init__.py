"""Sub-commands of the ``tokenmocap`` CLI, one module each (see ``backend/cli.py``)."""
