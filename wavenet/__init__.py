"""The `wavenet` command: one face over the core, the training wing and the service."""

import os

# Before anything loads OpenMP (torch does, on import; the native kernel shares its runtime): kernel threads
# sleep between calls instead of spinning. The kernel forks once per round of steps (wavenet_step.c), so a
# sleeping team costs one wake-up per round. Measured, 16 streams, 2 threads, this 2-core machine:
# spinning 144k samples/s idle but 1.9k-99k with one core busy elsewhere (the HTTP loop, decoding, a
# training run); sleeping 161k idle and 97k busy (as fast as one thread: no collapse).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
