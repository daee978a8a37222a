"""Training: dataset building (pymatgen, this machine only), HDF5 loading, on-the-fly PXRD
simulation, the training loop (resume, SIGTERM, EMA, DDP) and the LR schedule.

Nothing on the training path imports pymatgen; only :mod:`pxrdsolve.training.dataset` does, inside
:func:`~pxrdsolve.training.dataset.build_dataset`.
"""

from __future__ import annotations
