"""Training that the toolkit needs: resumable checkpoints, classifiers (CIFAR, noise-memorising)."""

from invert.training.checkpoint import Checkpointer

__all__ = ["Checkpointer"]
