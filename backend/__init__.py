"""TokenMocap backend: TokenHMR / HMR 2.0 inference service (no bpy anywhere in this package)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
