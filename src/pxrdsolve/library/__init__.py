"""Prototype library: build (pymatgen, offline) and load (numpy/h5py only, at solve time)."""

from __future__ import annotations

from pxrdsolve.library.store import KIND, PrototypeLibrary, load_library

__all__ = ["KIND", "PrototypeLibrary", "load_library"]
