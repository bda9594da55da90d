"""Engine implementations (see ``backend.engine`` for the contract and ``make_engine``)."""

from backend.engines.hmr import HMREngine, load_hmr_engine

__all__ = ["HMREngine", "load_hmr_engine"]
