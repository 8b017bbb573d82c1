"""Choosing the ``tf.distribute`` strategy of a training run, and what each worker may do.

``make_strategy`` must run before any other TensorFlow work in the process: a
``MultiWorkerMirroredStrategy`` sets up the cluster's collective ops, and splitting the CPU into
logical devices (``cpu_replicas``, for trying replication on a machine without GPUs) is only
possible before TensorFlow initialises its devices.

Modes: ``auto`` (several local GPUs: mirrored; a ``TF_CONFIG`` naming a cluster of more than
one task: multiworker; otherwise the default single-device strategy), ``none``, ``mirrored``,
``multiworker``.
"""

import json
import os
from dataclasses import dataclass

from nets.errors import UserError

MODES = ("auto", "none", "mirrored", "multiworker")


class DistributeError(UserError, ValueError):
    """The requested distribution cannot be set up (bad TF_CONFIG, batch, mode)."""


@dataclass
class Distribution:
    """A strategy and the facts the training loop needs about it."""

    strategy: object
    kind: str  # "none", "mirrored" or "multiworker"
    num_replicas: int
    num_workers: int = 1
    task_type: str = None
    task_index: int = 0

    @property
    def is_chief(self):
        """Whether this process writes checkpoints, logs and evaluation results."""
        return is_chief_task(self.task_type, self.task_index)

    @property
    def distributed(self):
        return self.kind != "none"

    def describe(self):
        if self.kind == "none":
            return "one device (no replication)"
        where = (
            f"{self.num_workers} workers, this is {self.task_type} {self.task_index}"
            if self.kind == "multiworker"
            else "this machine"
        )
        devices = ", ".join(getattr(self.strategy.extended, "worker_devices", ()))
        return f"{self.kind}: {self.num_replicas} replicas on {where} ({devices})"


def is_chief_task(task_type, task_index):
    """The chief is task 'chief', or worker 0 in a cluster without one (TF's convention)."""
    return task_type in (None, "chief") or (
        task_type == "worker" and int(task_index) == 0 and not _cluster_has_chief()
    )


def _cluster_has_chief():
    try:
        return "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except ValueError:
        return False


def read_tf_config(environ=None):
    """The parsed ``TF_CONFIG`` (dict) or None when unset; DistributeError when malformed."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise DistributeError(
            'TF_CONFIG needs a "cluster" object, e.g. {"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
            '"index": 0}}'
        )
    cluster = config["cluster"]
    for job, addresses in cluster.items():
        if not (
            isinstance(addresses, list)
            and addresses
            and all(isinstance(a, str) and ":" in a for a in addresses)
        ):
            raise DistributeError(
                f'TF_CONFIG cluster "{job}" must be a list of "host:port" '
                f"addresses, got {addresses!r}"
            )
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise DistributeError('TF_CONFIG needs a "task" object: {"type": "worker", "index": N}')
    if task["type"] not in cluster:
        raise DistributeError(
            f'TF_CONFIG task type "{task["type"]}" is not in the cluster ({", ".join(cluster)})'
        )
    index = task["index"]
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise DistributeError(
            f"TF_CONFIG task index {index!r} is outside 0.."
            f'{len(cluster[task["type"]]) - 1} for "{task["type"]}"'
        )
    return config


def _cluster_size(config):
    return sum(len(v) for k, v in config["cluster"].items() if k in ("chief", "worker"))


def resolve_mode(mode, num_gpus, tf_config):
    """The strategy kind ``mode`` stands for on this machine: 'none', 'mirrored', 'multiworker'."""
    if mode not in MODES:
        raise DistributeError(f"--distribute {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "multiworker" and tf_config is None:
        raise DistributeError(
            "--distribute multiworker needs TF_CONFIG (the cluster's addresses "
            "and this task's place in it); see the README"
        )
    if mode == "auto":
        if tf_config is not None and _cluster_size(tf_config) > 1:
            return "multiworker"
        return "mirrored" if num_gpus > 1 else "none"
    return mode


def make_strategy(mode="auto", cpu_replicas=1):
    """Create the strategy for ``mode`` (call first, before other TensorFlow work).

    ``cpu_replicas`` > 1 splits the CPU into that many logical devices, so ``mirrored`` can
    replicate on a machine without GPUs (for testing the distributed path; it is no faster).
    """
    tf_config = read_tf_config()
    resolve_mode(mode, 0, tf_config)  # mistakes in the flags fail before TensorFlow loads
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    kind = resolve_mode(mode, len(gpus), tf_config)
    if cpu_replicas > 1:
        kind = "mirrored" if kind == "none" else kind
        if gpus:
            raise DistributeError("--cpu-replicas is for machines without GPUs")
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(int(cpu_replicas))]
        )
    if kind == "none":
        strategy = tf.distribute.get_strategy()
        return Distribution(strategy, kind, 1)
    if kind == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        strategy = tf.distribute.MirroredStrategy(
            devices, cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice()
        )
        return Distribution(strategy, kind, strategy.num_replicas_in_sync)
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
    task = tf_config["task"]
    return Distribution(
        strategy,
        kind,
        strategy.num_replicas_in_sync,
        num_workers=_cluster_size(tf_config),
        task_type=task["type"],
        task_index=int(task["index"]),
    )


def check_global_batch(batch_size, num_replicas, flag="--batch-size"):
    """The global batch must split evenly, with at least two images per replica (BatchNorm)."""
    if num_replicas > 1 and (batch_size % num_replicas or batch_size // num_replicas < 2):
        raise DistributeError(
            f"{flag} {batch_size} is the global batch: it must be a multiple "
            f"of the {num_replicas} replicas with at least 2 images each "
            f"(e.g. {2 * num_replicas * max(1, batch_size // (2 * num_replicas))})"
        )


def local_tf_configs(count):
    """``TF_CONFIG`` values (JSON strings) for ``count`` worker processes on this machine, on
    ports free now: worker ``i`` gets the ``i``-th (for trying multi-worker training locally)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        cluster = {"worker": [f"localhost:{s.getsockname()[1]}" for s in sockets]}
    finally:
        for s in sockets:
            s.close()
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        for i in range(count)
    ]


def shared_data_seed(seed, distribution):
    """Workers must shuffle alike to split each step between them: without a seed they share
    one derived from the cluster's addresses."""
    if seed is not None or distribution.num_workers <= 1:
        return seed
    import zlib

    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return zlib.crc32(json.dumps(cluster, sort_keys=True).encode())


def distributed_dataset(strategy, distribution, dataset_fn, global_batch):
    """``dataset_fn(shard, replica_batch)``'s dataset, one per input pipeline when replicated."""
    if not distribution.distributed:
        return dataset_fn()

    def per_pipeline(context):
        return dataset_fn(
            (context.num_input_pipelines, context.input_pipeline_id),
            context.get_per_replica_batch_size(global_batch),
        )

    return strategy.distribute_datasets_from_function(per_pipeline)
