"""Batch jobs over many structures: ``simulate`` (structures → peaks + patterns), ``broaden``, merge."""
