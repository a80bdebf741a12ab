"""One place that decides where tensors live: `get_device("auto")` is CUDA when present, else CPU."""
from __future__ import annotations

ALLOWED_DEVICES = ("auto", "cpu", "cuda", "cuda:<index>")


def get_device(device="auto"):
    """torch.device for 'auto' | 'cpu' | 'cuda' | 'cuda:N' (or a torch.device); clear error otherwise."""
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device={device!r} is not allowed; use one of {ALLOWED_DEVICES}")
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asks for CUDA but no CUDA GPU is available; use 'auto' or 'cpu'")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device(name)
    raise ValueError(f"device={device!r} is not allowed; use one of {ALLOWED_DEVICES}")
