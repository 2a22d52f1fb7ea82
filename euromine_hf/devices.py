"""Checking a torch device name against the devices this machine has.

``torch.device("cuda:7")`` is accepted on a machine with one GPU (or none) and fails only when a
tensor is moved there, as a CUDA traceback after the model is loaded; ``torch.device("foo")`` raises a
``RuntimeError`` that reads like a bug. :func:`check_device` turns both into a ``ValueError`` naming
the option, the value and what exists, so every ``--device`` option refuses them up front.
"""

from __future__ import annotations

__all__ = ["check_device", "available_devices"]


def available_devices() -> list[str]:
    """Device names usable here: ``cpu`` plus one per accelerator index (``cuda:0``, ``mps:0``...)."""
    import torch

    names = ["cpu"]
    for kind in ("cuda", "xpu", "mps"):
        module = getattr(torch, kind, None) if kind != "mps" else getattr(torch.backends, "mps", None)
        if module is None or not module.is_available():
            continue
        count = torch.cuda.device_count() if kind == "cuda" else (module.device_count() if hasattr(module, "device_count") else 1)
        names += [f"{kind}:{i}" for i in range(count)]
    return names


def check_device(name: str, option: str = "--device") -> str:
    """Return ``name`` if it is a torch device this machine has, else raise ``ValueError``."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{option}: expected a torch device such as cpu, cuda or cuda:0, got {name!r}"
        ) from None
    if device.type == "cpu":
        return name
    here = available_devices()
    wanted = f"{device.type}:{device.index if device.index is not None else 0}"
    if wanted not in here:
        raise ValueError(f"{option}: expected a device this machine has ({', '.join(here)}), got {name!r}: not available here")
    return name
