"""The Keras 3 MNIST MLP with the same work as `cargo run --release --example bench_mnist`:
784-128-10, Adam, batch 32, first epoch excluded as warm-up. Prints s/epoch (median), steps/s
and peak RSS, so Keras, raw burn and Kiln can be compared on one machine.

    pip install "keras>=3.10" "jax[cpu]" numpy
    KERAS_BACKEND=jax python bench/keras_mnist.py --epochs 3

Reads MNIST from the repository's data/mnist (no download).
"""

import argparse
import gzip
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data" / "mnist"


def idx(name):
    with gzip.open(DATA / name, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--samples", type=int, default=60000)
    a = p.parse_args()

    x = idx("train-images-idx3-ubyte.gz")[: a.samples].astype("float32") / 255.0
    y = idx("train-labels-idx1-ubyte.gz")[: a.samples].astype("int32")
    keras.utils.set_random_seed(42)
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x, y, epochs=a.epochs + 1, batch_size=a.batch_size, verbose=0, callbacks=[timer])
    timed = timer.seconds[1:]
    s = statistics.median(timed)
    steps = -(-len(y) // a.batch_size)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"keras {keras.__version__} ({keras.backend.backend()}), {a.samples} samples, batch {a.batch_size}")
    print(f"{'':<6} {'s/epoch':>10} {'steps/s':>12} {'peak RSS (MB)':>14}")
    print(f"{'keras':<6} {s:>10.3f} {steps / s:>12.0f} {rss:>14.0f}")


if __name__ == "__main__":
    main()
