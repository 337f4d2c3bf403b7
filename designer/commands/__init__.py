"""Sub-commands of the ``designer`` command line, one module each."""
