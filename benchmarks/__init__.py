import os

# The same OpenMP wait policy as `wavenet serve` (see wavenet/__init__.py), so that bare-sampler figures and
# the service's are measured alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
