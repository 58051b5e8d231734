"""Command groups attached to the `invert` CLI, imported only when used: ``invert.cli.COMMANDS`` names each."""
