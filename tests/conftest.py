"""Shared test setup: one torch thread (the tests use tiny tensors; threads only add overhead)."""

import torch

torch.set_num_threads(1)
