"""Reads a Kiln TensorBoard log directory with the real `tensorboard` package.

Loads `<log_dir>/train` and `<log_dir>/validation` with TensorBoard's own
`EventAccumulator` (which checks each record's CRCs), prints every scalar tag with its
(step, value) pairs and every histogram tag with its element counts, and exits non-zero when
Keras's expected tags are missing.

    pip install tensorboard
    KILN_TB_KEEP=/tmp/tbrun cargo test --test tensorboard fit_writes
    python tests/tensorboard_check.py /tmp/tbrun
"""

import sys

from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS,
    SCALARS,
    EventAccumulator,
)

EXPECTED = {
    "train": {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"},
    "validation": {"epoch_loss", "epoch_accuracy"},
}


def main(log_dir):
    missing = []
    for run, expected in EXPECTED.items():
        # 0 = keep every event (the default size guidance samples them).
        acc = EventAccumulator(f"{log_dir}/{run}", size_guidance={SCALARS: 0, HISTOGRAMS: 0})
        acc.Reload()
        tags = acc.Tags()
        print(f"== {run} (file_version {acc.file_version})")
        for tag in sorted(tags["scalars"]):
            events = acc.Scalars(tag)
            values = ", ".join(f"{e.step}: {e.value:.6g}" for e in events)
            print(f"  scalar {tag}: {values}")
        for tag in sorted(tags["histograms"]):
            events = acc.Histograms(tag)
            counts = ", ".join(f"{e.step}: num={e.histogram_value.num:g}" for e in events)
            print(f"  histogram {tag}: {counts}")
        for tag in sorted(expected - set(tags["scalars"])):
            missing.append(f"{run}/{tag}")
    if missing:
        print("missing tags: " + ", ".join(missing), file=sys.stderr)
        return 1
    print("all expected tags present")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
