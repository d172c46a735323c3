"""The `wavenet` command: one face over the core, the training wing and the service."""

import os

# Before anything loads OpenMP (torch does, on import; the native kernel shares its runtime): kernel threads
# that finished a step sleep instead of spinning. Spinning threads that share a core with other work (the
# HTTP loop, decoding, a training run) measured ~50x slower (1,905 vs 91,761 samples/s, 16 streams, 2
# threads, one core busy elsewhere); sleeping ones cost a wake-up per step and let the kernel use every core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
