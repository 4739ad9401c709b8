"""Running ``peclip`` under two CPU processes (torchrun, gloo) from a test."""

import os
import subprocess
import sys


def torchrun_peclip(args: list[str], cwd) -> str:
    """``python -m torch.distributed.run --standalone --nproc_per_node 2 -m peclip.cli ARGS`` in ``cwd``; its stdout.

    One OpenMP thread per process (two processes on a 2-core machine); a failure shows the end of both streams.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "peclip.cli", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout
