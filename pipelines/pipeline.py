"""The DAG of the six components, with the cluster settings a GPU Kubernetes cluster needs.

`build_pipeline(kubernetes=True)` adds, through kfp-kubernetes: GPU requests (accelerator
type and count are pipeline parameters) on train, pseudo_labels, cluster_features and
finetune; memory and CPU limits; retries with exponential backoff; a memory-backed emptyDir
at /dev/shm for data-loader workers; a node selector and a toleration for GPU nodes; S3 and
MLflow credentials from Kubernetes secrets as environment variables; and, when the run names
one in `baseline_store_claim`, a PersistentVolumeClaim mounted in evaluate as its baseline store,
so that the baselines' parameters and segments outlive the pod (without it they last as long as
the pod, and every run segments the test sets again). `kubernetes=False` gives the same DAG
without them, for `kfp.local`, which cannot honour them (locally the store is params.yaml's
folder on this disk).
"""

from kfp import dsl, kubernetes

from components import cluster_features, evaluate, finetune, object_masks, pseudo_labels, train

GPU_STAGES = ("train", "pseudo-labels", "cluster-features", "finetune")
S3_SECRET = "openparts-s3"
MLFLOW_SECRET = "openparts-mlflow"
STORE_MOUNT = "/mnt/openparts/baseline-store"
"""Where evaluate mounts the claim `baseline_store_claim` names, and keeps its baseline store."""


def _on_cluster(task: dsl.PipelineTask, gpu: bool, accelerator: str, gpus: int) -> dsl.PipelineTask:
    task.set_retry(num_retries=2, backoff_duration="60s", backoff_factor=2.0, backoff_max_duration="600s")
    task.set_memory_limit("48G" if gpu else "8G").set_cpu_limit("8" if gpu else "2")
    kubernetes.use_secret_as_env(
        task, S3_SECRET, {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}, optional=True
    )
    kubernetes.use_secret_as_env(task, MLFLOW_SECRET, {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"}, optional=True)
    if gpu:
        task.set_accelerator_type(accelerator).set_accelerator_limit(gpus)
        kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory", size_limit="16Gi")
        kubernetes.add_node_selector(task, "nvidia.com/gpu.present", "true")
        kubernetes.add_toleration(task, key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    return task


def _with_kept_baselines(task: dsl.PipelineTask, claim: dsl.pipeline_channel.PipelineChannel) -> dsl.PipelineTask:
    """Outside `build_pipeline`, whose `kubernetes` flag hides the module there. The store's files
    are written to a temporary name and renamed, and never changed after: evaluate pods of
    concurrent runs can share the claim (ReadWriteMany across nodes)."""
    return kubernetes.mount_pvc(task, pvc_name=claim, mount_path=STORE_MOUNT)


def build_pipeline(kubernetes: bool = True):
    @dsl.pipeline(
        name="openparts-ops",
        description="Open Part Segmenter: object masks, base training, pseudo labels, pseudo parts, fine-tuning, evaluation",
    )
    def ops(
        labeled_uri: str,
        unlabeled_uri: str,
        test_uri: str,
        dev_uri: str,
        object_masks_params: str,
        train_params: str,
        pseudo_labels_params: str,
        cluster_features_params: str,
        finetune_params: str,
        evaluate_params: str,
        labeled_hash: str = "",
        unlabeled_hash: str = "",
        test_hash: str = "",
        dev_hash: str = "",
        accelerator: str = "nvidia.com/gpu",
        gpus: int = 1,
        baseline_store_claim: str = "",
    ) -> None:
        def place(task: dsl.PipelineTask, gpu: bool) -> dsl.PipelineTask:
            return _on_cluster(task, gpu, accelerator, gpus) if kubernetes else task

        def masks(uri: str, content: str, role: str) -> dsl.PipelineTask:
            task = object_masks(data_uri=uri, data_hash=content, params=object_masks_params)
            return place(task.set_display_name(f"object-masks-{role}"), False)

        labeled = masks(labeled_uri, labeled_hash, "labeled")
        unlabeled = masks(unlabeled_uri, unlabeled_hash, "unlabeled")
        test = masks(test_uri, test_hash, "test")
        dev = masks(dev_uri, dev_hash, "dev")
        base = place(train(data=labeled.outputs["out"], params=train_params), True)
        labels = place(pseudo_labels(model=base.outputs["model"], data=unlabeled.outputs["out"], params=pseudo_labels_params), True)
        parts = place(cluster_features(model=base.outputs["model"], data=unlabeled.outputs["out"], params=cluster_features_params), True)
        tuned = place(
            finetune(
                model=base.outputs["model"],
                labeled=labeled.outputs["out"],
                pseudo_labels=labels.outputs["out"],
                unlabeled=unlabeled.outputs["out"],
                pseudo_parts=parts.outputs["out"],
                params=finetune_params,
            ),
            True,
        )
        scoring = dict(model=tuned.outputs["tuned"], base=base.outputs["model"], test=test.outputs["out"], dev=dev.outputs["out"])
        if not kubernetes:
            evaluate(**scoring, params=evaluate_params)
            return
        with dsl.If(baseline_store_claim != "", name="kept-baselines"):
            kept = evaluate(**scoring, params=evaluate_params, baseline_store=STORE_MOUNT)
            place(_with_kept_baselines(kept, baseline_store_claim).set_display_name("evaluate"), False)
        with dsl.Else(name="baselines-in-pod"):
            place(evaluate(**scoring, params=evaluate_params).set_display_name("evaluate"), False)

    return ops
