"""Which torch device a model runs on: one rule for every deployment."""

from __future__ import annotations

import torch


def pick_device(device: str) -> torch.device:
    """``auto`` means CUDA when torch sees a GPU, else CPU; anything else is used as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
