"""One place that decides where tensors live: `get_device("auto")` is CUDA when present, else CPU."""
from __future__ import annotations

ALLOWED_DEVICES = ("auto", "cpu", "cuda", "cuda:<index>")
CUDA_GRAPH_CHOICES = ("auto", "on", "off")  # how a training step runs on CUDA: course_lib.training.graphed
# The arithmetic of a network's forward pass in training (`TrainConfig.precision`): float32, or bfloat16 autocast.
PRECISIONS = ("float32", "bfloat16")


def check_device_name(device) -> str:
    """`device` as a lower-case name of an allowed form, or a ValueError; whether it exists here is not asked
    (a sweep's workers may have GPUs that the machine planning it lacks)."""
    name = device.strip().lower() if isinstance(device, str) else ""
    if name not in ("auto", "cpu", "cuda") and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ValueError(f"device={device!r} is not allowed; use one of {ALLOWED_DEVICES}")
    return name


def forward_precision(device, precision: str):
    """The context a training forward pass runs in: for "bfloat16", autocast (convolutions and matrix products
    take bfloat16 inputs and accumulate in float32: faster where the processor has bfloat16 arithmetic,
    AVX512-BF16 or AMX on a CPU, tensor cores on a GPU; 1.3-1.7 x measured on an AVX512-BF16 CPU); for
    "float32", none. The weights, the gradients' updates and Adam's state stay float32. The autocast cache is
    off: a CUDA graph cannot keep it."""
    import contextlib

    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not allowed; use one of {PRECISIONS}")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False)


def get_device(device="auto"):
    """torch.device for 'auto' | 'cpu' | 'cuda' | 'cuda:N' (or a torch.device); clear error otherwise."""
    import torch

    name = check_device_name(str(device) if isinstance(device, torch.device) else device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asks for CUDA but no CUDA GPU is available; use 'auto' or 'cpu'")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return torch.device(name)


def available_bytes(device) -> int:
    """Memory that a new allocation on `device` can still use: CUDA's free memory, or the host's available."""
    import torch

    device = get_device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import psutil

    return psutil.virtual_memory().available


def training_bytes(model, input_shape, batch_size: int) -> int:
    """An estimate of the memory one training step of `model` needs at `batch_size`, in bytes.

    Parameters, their gradients and Adam's two moments (4 copies), plus twice every module's output
    for the batch (kept for the backward pass, then matched by its gradient). The outputs' sizes come
    from one forward pass on the meta device: shapes only, no memory and no arithmetic."""
    fixed, per_sample = _step_bytes(model, input_shape)
    return fixed + batch_size * per_sample


def _step_bytes(model, input_shape) -> tuple[int, int]:
    """(bytes that do not grow with the batch, bytes per sample) of one training step of `model`."""
    import copy

    import torch

    outputs = []

    def record(module, inputs, output):
        tensors = output.values() if isinstance(output, dict) else output if isinstance(output, tuple) else [output]
        outputs.extend(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))

    shadow = copy.deepcopy(model).to("meta")
    hooks = [module.register_forward_hook(record) for module in shadow.modules() if not list(module.children())]
    with torch.no_grad():
        shadow(torch.zeros((1, *input_shape), device="meta"))
    for hook in hooks:
        hook.remove()
    return 4 * sum(p.numel() * p.element_size() for p in model.parameters()), 2 * sum(outputs)


def check_batch_fits(model, input_shape, batch_size: int, device, resident_bytes: int = 0, copies: int = 1) -> None:
    """ValueError, before any work, when `copies` training steps of `model` at `batch_size` (plus
    `resident_bytes` already bound for the device, e.g. the dataset) cannot fit in the memory that
    `device` has available. `copies` > 1: models trained side by side (packed training)."""
    fixed, per_sample = _step_bytes(model, input_shape)
    needed = copies * (fixed + batch_size * per_sample) + resident_bytes
    free = available_bytes(device)
    if needed > free:
        largest = max(0, ((free - resident_bytes) // copies - fixed) // max(per_sample, 1))
        raise ValueError(f"batch_size={batch_size} needs about {needed / 2**30:.1f} GiB on {get_device(device)}"
                         f"{f' for {copies} models' if copies > 1 else ''}, which has {free / 2**30:.1f} GiB "
                         f"available; use batch_size <= {largest}")
