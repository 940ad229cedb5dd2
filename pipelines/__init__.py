"""The OPS pipeline for Kubeflow Pipelines v2: `python -m pipelines compile | run-local`."""
