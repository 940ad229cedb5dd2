"""Kubeflow Pipelines v2 components: one lightweight component per openparts stage.

Each body only calls `openparts.stages.run`; all computation lives in the library. Inputs and
outputs are typed KFP artifacts (Dataset, Model, Metrics, HTML, Markdown); `params` is the
JSON of what `openparts.stages.params.stage_params` gives the stage, so KFP and DVC run a stage
with the same values. `*_hash` parameters carry the content hash of raw input data: KFP's
cache key ignores artifact content, so new data must change a parameter to bypass the cache.
"""

from components.stages import cluster_features, evaluate, finetune, object_masks, pseudo_labels, train

__all__ = ["cluster_features", "evaluate", "finetune", "object_masks", "pseudo_labels", "train"]
