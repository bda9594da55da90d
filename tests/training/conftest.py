"""Training tests run their tiny networks on one intra-op thread.

On the project's 2 shared cores, torch's default of one OpenMP thread per core made the CPU smoke runs spend most of
their time spinning (a tokenizer step cost ~15x the CPU time of a single-threaded one). The previous setting is
restored after each test, so other test folders in the same pytest process are unaffected.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
