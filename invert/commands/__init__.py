"""Command groups attached to the `invert` CLI: each module defines ``register(app)``."""
