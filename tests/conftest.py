"""Shared fixtures: backend tests run on every available device (CUDA cases skip without one).

The suite runs on one torch thread unless ``OMP_NUM_THREADS`` says otherwise (``make test``
does not set it): the CLI's and the sweeps' default, and far faster on a loaded machine,
where torch's default of a thread per core makes them wait for each other (bp, width 64,
2048 inputs, 300 epochs on 2 cores at load 4: 5-6 s on one thread, 22-72 s on two).
Subprocesses inherit it."""
import os

import pytest
import torch

if "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

DEVICES = [pytest.param("cpu", id="cpu"),
           pytest.param("cuda", id="cuda", marks=[
               pytest.mark.cuda,
               pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param
