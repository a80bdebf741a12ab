"""The GPU scripts (benchmarks/gpu_check.sh, gpu_grow.sh, gpu_full.sh) refuse a machine without CUDA before doing
anything."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the scripts run for real")
@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_grow.sh", "gpu_full.sh"])
def test_a_gpu_script_refuses_a_machine_without_cuda_and_writes_nothing(tmp_path, script):
    manifest = (ROOT / "data" / "pretrained" / "manifest.json").read_bytes()
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / script), str(tmp_path / "out")], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=120)
    assert done.returncode == 2 and "CUDA is not available" in done.stderr
    assert not (tmp_path / "out").exists()
    assert (ROOT / "data" / "pretrained" / "manifest.json").read_bytes() == manifest
