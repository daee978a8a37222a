"""Batched, differentiable kinematic powder-diffraction simulator (pure torch, no pymatgen).

Layers, each its own module:

* :mod:`~pxrdsolve.diffraction.radiation` - wavelengths (Å) and multi-line sources (Kα1+Kα2);
* :mod:`~pxrdsolve.diffraction.grids` - Q ↔ 2θ ↔ d conversions and pattern grids;
* :mod:`~pxrdsolve.diffraction.form_factors` - atomic X-ray form factors (pymatgen's coefficients);
* :mod:`~pxrdsolve.diffraction.reflections` - hkl enumeration up to Q_max for a batch of cells;
* :mod:`~pxrdsolve.diffraction.peaks` - structure factors, Lorentz–polarisation, peak merging;
* :mod:`~pxrdsolve.diffraction.profiles` - sinc² size, Gaussian / pseudo-Voigt instrument profiles and
  continuous patterns on any grid;
* :mod:`~pxrdsolve.diffraction.pxrdnet` - the PXRDNet preset (512-point input, 8192-point evaluation).
"""
