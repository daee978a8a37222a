"""File formats at the edge of the core: structures (CIF/CSV via pymatgen), HDF5 pattern files, .xy."""
