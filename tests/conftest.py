"""Test-suite settings shared by every test module."""

import os

import torch

# Tests run in parallel workers (pytest-xdist), one per core; a worker using several intra-op threads
# competes with the others and makes tiny models orders of magnitude slower.
torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
