"""The ``pxrdsolve`` command line: thin Typer commands over the core package."""
