"""tf.distribute for train_cnn: the same code on one CPU, several GPUs or several machines.

- `default`: TensorFlow's default strategy; uses the first GPU if one is visible, else the CPU.
- `mirrored`: synchronous data parallelism over every local GPU (over the logical CPU devices
  when there is no GPU, which is how the tests exercise it); the batch is split across replicas.
- `multi_worker`: MultiWorkerMirroredStrategy across machines described by the TF_CONFIG
  environment variable (each worker runs the same command with its own task index).
"""
from __future__ import annotations

import json
import os


class StrategyError(RuntimeError):
    """A strategy that cannot start here; the message says what is missing."""


def use_logical_cpus(n: int) -> None:
    """Split the CPU into `n` logical devices; only works before TensorFlow first touches a device."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as error:
        raise StrategyError(f"cannot split the CPU into {n} logical devices: TensorFlow is already initialised ({error})") from None


def strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise StrategyError("train_cnn.strategy: multi_worker needs the TF_CONFIG environment variable "
                                "(cluster.worker addresses and this task's index; see the README)")
        try:
            json.loads(config)
        except ValueError as error:
            raise StrategyError(f"TF_CONFIG is not valid JSON: {error}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise StrategyError(f"unknown strategy {name!r}; valid: default, mirrored, multi_worker")
