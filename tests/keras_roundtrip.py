"""What Kiln writes opens in real Keras and predicts the same.

For every real Keras file in tests/fixtures/keras-models/ that Kiln can read, `kiln convert`
writes it back as .keras; this script loads that file with `keras.saving.load_model` and checks
its predictions against the case's expected.npz (Keras's own, made from the original file) at the
case's rtol/atol. With --mnist MODEL.keras --accuracy A, it also evaluates a Kiln-trained MNIST
model in Keras and checks the test accuracy equals A to 4 decimals.

    python3 -m venv ~/venvs/keras
    ~/venvs/keras/bin/pip install "keras==3.15.1" "jax[cpu]==0.10.2" numpy h5py
    cargo build --release --bin kiln
    KERAS_BACKEND=jax ~/venvs/keras/bin/python tests/keras_roundtrip.py --kiln target/release/kiln

Exit status 0 when every case passes (cases whose layers Kiln lacks are listed as skipped).
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "keras-models"


def check_case(kiln, case_dir, out_dir):
    case = json.loads((case_dir / "case.json").read_text())
    out = out_dir / f"{case['name']}.keras"
    run = subprocess.run(
        [kiln, "convert", str(case_dir / "model.keras"), str(out)],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        if "unknown layer class" in run.stderr:
            return "skipped", run.stderr.strip().splitlines()[-1]
        return "FAIL", f"kiln convert failed: {run.stderr.strip()}"
    model = keras.saving.load_model(out)
    inputs = [np.load(case_dir / i["file"]) for i in case["inputs"]]
    got = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    if not isinstance(got, (list, tuple, dict)):
        got = [got]
    if isinstance(got, dict):
        got = [got[name] for name in expected.files]
    expected = np.load(case_dir / "expected.npz")
    worst = 0.0
    for name, g in zip(expected.files, got):
        w = expected[name]
        if g.shape != w.shape:
            return "FAIL", f"{name}: shape {g.shape}, expected {w.shape}"
        excess = np.abs(g - w) - (case["atol"] + case["rtol"] * np.abs(w))
        worst = max(worst, float(np.abs(g - w).max()))
        if (excess > 0).any():
            return "FAIL", f"{name}: max |diff| {float(np.abs(g - w).max()):.3g}"
    names = list(expected.files)
    if len(names) > 1 and list(model.output_names) != names:
        return "FAIL", f"output names {model.output_names}, expected {names}"
    return "ok", f"max |diff| {worst:.3g} (rtol {case['rtol']}, atol {case['atol']})"


def mnist_test(data_dir):
    with gzip.open(data_dir / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(data_dir / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln", default="target/release/kiln", help="the kiln binary")
    parser.add_argument("--mnist", type=Path, help="a Kiln-trained MNIST .keras file")
    parser.add_argument("--accuracy", type=float, help="Kiln's test accuracy for --mnist")
    parser.add_argument("--data", type=Path, default=HERE.parent / "data" / "mnist")
    args = parser.parse_args()

    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case_dir in sorted(p for p in FIXTURES.iterdir() if (p / "model.keras").exists()):
            try:
                status, detail = check_case(args.kiln, case_dir, Path(tmp))
            except Exception as e:  # noqa: BLE001 - report every case
                status, detail = "FAIL", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"

            failed += status == "FAIL"
            print(f"{status:8} {case_dir.name:18} {detail}")

    if args.mnist:
        model = keras.saving.load_model(args.mnist)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = mnist_test(args.data)
        _, accuracy = model.evaluate(x, y, batch_size=256, verbose=0)
        same = args.accuracy is None or round(accuracy, 4) == round(args.accuracy, 4)
        failed += not same
        print(
            f"{'ok' if same else 'FAIL':8} {'mnist (Kiln-trained)':18} "
            f"Keras test accuracy {accuracy:.4f}, Kiln's {args.accuracy}"
        )
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
