"""The `wavenet` command: one face over the core, the training wing and the service."""

import os

# Before anything loads OpenMP (torch does, on import; the native kernel shares its runtime): kernel threads
# sleep between calls instead of spinning, and the kernel forks once per round of steps (wavenet_step.c), so
# a sleeping team costs one wake-up per round. `make bench-contention`, 16 streams, 2 threads, one core
# busy-looping elsewhere (the HTTP loop, decoding, a training run): 92k samples/s sleeping, 62k spinning;
# idle, both about 150k.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
