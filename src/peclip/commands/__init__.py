"""Sub-commands of the peclip CLI, one module each (see peclip.cli)."""
