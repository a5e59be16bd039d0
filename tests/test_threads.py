"""threads.set_threads: torch's thread count, and MKL products on exactly that many threads."""
import os

import pytest
import torch

from plastisim import threads


@pytest.fixture
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(before)


def test_set_threads_sets_torchs_count_and_turns_mkls_dynamic_threading_off(restore_threads):
    restore_threads.delenv("MKL_DYNAMIC", raising=False)
    threads.set_threads(2)
    assert torch.get_num_threads() == 2 and os.environ["MKL_DYNAMIC"] == "FALSE"


def test_a_users_own_mkl_setting_is_kept(restore_threads):
    restore_threads.setenv("MKL_DYNAMIC", "TRUE")
    threads.set_threads(1)
    assert torch.get_num_threads() == 1 and os.environ["MKL_DYNAMIC"] == "TRUE"
