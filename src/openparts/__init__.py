"""openparts: open-world, class-agnostic part instance segmentation (Open Part Segmenter)."""

__version__ = "0.1.0"
