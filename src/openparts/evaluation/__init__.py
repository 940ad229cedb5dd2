"""Evaluation: class-agnostic COCO AP (more metrics, baselines and the report follow)."""
