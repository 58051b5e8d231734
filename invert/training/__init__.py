"""Training that the toolkit needs: resumable checkpoints, classifiers (CIFAR, noise-memorising)."""

from invert.training.checkpoint import Checkpointer
from invert.training.classifier import fit_classifier, flip_crop, normalize_images, save_state_dict, training_figure

__all__ = ["Checkpointer", "fit_classifier", "flip_crop", "normalize_images", "save_state_dict", "training_figure"]
