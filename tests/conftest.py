"""Fixtures shared by the test modules."""

import pytest
import torch


@pytest.fixture()
def one_thread():
    """Tiny tensors: one thread is fastest and avoids oversubscribing a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
