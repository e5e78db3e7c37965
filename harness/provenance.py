"""Where a result came from: library versions, git commit, device, and the device's peak FLOP/s (for MFU)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

import torch

_PACKAGES = ("torch", "transformers", "accelerate", "datasets", "tokenizers", "numpy", "scaling-harness")
# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets, matched on the device name.
_PEAK_BF16 = (("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12), ("A10G", 125e12),
              ("L4", 121e12), ("V100", 125e12), ("4090", 165e12), ("3090", 71e12))


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a run's numbers."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit(start: Optional[Path] = None) -> str:
    """The harness checkout's commit (with '+dirty' when modified), or 'unknown' outside git."""
    here = Path(start or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: torch.device) -> str:
    """A readable device description, e.g. 'cuda:0 NVIDIA H100 80GB HBM3' or 'cpu (x86_64, 2 threads)'."""
    if device.type == "cuda":
        return f"{device} {torch.cuda.get_device_name(device)}"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def peak_flops(device: torch.device) -> Optional[float]:
    """Dense bf16 peak FLOP/s of a known GPU, None on CPU or unknown devices."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in _PEAK_BF16 if key in name), None)


def peak_flops_named(gpu: str) -> Optional[float]:
    """Dense bf16 peak FLOP/s of a GPU named like 'h100' or 'A100' (case-insensitive), None if not in the table."""
    key = gpu.strip().upper()
    return next((peak for name, peak in _PEAK_BF16 if name == key), None)
