"""tf.distribute strategies by name: auto, default, mirrored, multiworker, tpu."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from kind_tf.training.config import ConfigError

STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")


def _tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error})") from None


def _cluster_size(config: dict) -> int:
    return sum(len(tasks) for tasks in config.get("cluster", {}).values())


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Create the strategy.

    * ``auto``: multiworker when TF_CONFIG describes several tasks, else mirrored when several GPUs are
      visible, else the default (one-device) strategy.
    * ``multiworker``: ``MultiWorkerMirroredStrategy`` configured from TF_CONFIG.
    * ``tpu``: ``TPUStrategy`` on ``TPUClusterResolver(tpu=$TPU_NAME or "")`` (a TPU VM's local TPU).
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown --strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if _cluster_size(_tf_config()) > 1:
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not _tf_config().get("cluster"):
            raise ConfigError("--strategy multiworker needs TF_CONFIG with a cluster spec and this task's type/index")
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise ConfigError(f"--strategy tpu: no TPU found ({str(error).splitlines()[0]})") from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints, weights and summaries (the chief / worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def worker_id(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return "local"
    return f"{resolver.task_type}-{resolver.task_id}"
