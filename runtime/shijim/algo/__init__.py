"""Execution and research algorithms: the chasing engine (``chasing``) and the algo toolkit,
thin typed wrappers over the Rust kernels of ``shijim_core`` (docs/signals.md):
``features`` (L5 book features, OFI/MLOFI), ``microstructure`` (trade flow, clock-time grids),
``piq`` (position in queue), ``kalman`` (fair value, dynamic hedge ratio), ``leadlag``
(Hayashi-Yoshida lead-lag)."""
