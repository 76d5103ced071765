"""Peers for Kiln's MNIST benchmarks, timed the same way: Keras 3 (JAX backend) and PyTorch (eager).

Usage:
  KERAS_BACKEND=jax <venv>/bin/python bench/peers.py keras mlp|cnn [--epochs N] [--data DIR]
  <venv>/bin/python bench/peers.py torch mlp|cnn [--epochs N] [--data DIR]
  python3 bench/peers.py compare mlp|cnn --kiln-cmd "<shell command>" [--keras-python PATH]
      [--torch-python PATH] [--epochs N] [--rounds R] [--data DIR]

Venv (outside the repository):
  python3 -m venv ~/venvs/peers
  ~/venvs/peers/bin/pip install "keras==3.15.1" "jax[cpu]==0.10.2" numpy torch

Models (the same work as Kiln's examples):
  mlp: Flatten-Dense(128,relu)-Dense(10,softmax), Adam(1e-3, eps 1e-7), categorical
       cross-entropy, batch 32, all 60000 training samples, shuffled each epoch.
  cnn: the keras.io "simple MNIST convnet" (Conv2D 32 3x3 relu, MaxPool 2, Conv2D 64 3x3 relu,
       MaxPool 2, Flatten, Dropout .5, Dense 10 softmax), Adam, batch 128, validation_split 0.1:
       trains on the first 54000 samples (shuffled each epoch) and evaluates the last 6000 at the
       end of every epoch, inside the epoch's time, as Keras does.
  PyTorch uses torch.set_num_threads(os.cpu_count()) and folds the softmax into
  CrossEntropyLoss for training (softmax applied explicitly when predicting).

After training: test accuracy on the 10000 test images, then predict throughput over them with
batch size 256 (one warm-up pass, then the median samples/s of 3 timed passes; Keras:
model.predict(x, batch_size=256, verbose=0); PyTorch: model.eval() + torch.no_grad()).

Prints one line per epoch and, as the last line, one machine-readable line:
  RESULT peer=<name> model=<mlp|cnn> s_per_epoch=<median of epochs 2..N> first=<epoch 1 s>
         test_acc=<acc> predict_sps=<samples/s> peak_rss_mb=<MB>
(all on one line; peak RSS is ru_maxrss of this process).

`compare` runs, one after another in this process tree, the Kiln command (which must print the
same RESULT line as its last line; put `--epochs N` in it yourself, it is not appended), then
this script under the Keras python (KERAS_BACKEND=jax) and under the PyTorch python (both default
to ~/venvs/peers/bin/python), for R interleaved rounds (kiln, keras, torch, kiln, ...), and prints
a table of medians over rounds followed by the ratios kiln/peer. `compare` itself needs only the
standard library (any python3).

--data defaults to $KILN_DATA_DIR/mnist if KILN_DATA_DIR is set, else data/mnist in this
repository (the IDX .gz files: train-images-idx3-ubyte.gz, ...; nothing is downloaded).
"""
import argparse
import gzip
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
RESULT_KEYS = ("peer", "model", "s_per_epoch", "first", "test_acc", "predict_sps", "peak_rss_mb")
PREDICT_BATCH, PREDICT_PASSES = 256, 3


def default_data_dir():
    env = os.environ.get("KILN_DATA_DIR")
    if env:
        return os.path.join(env, "mnist")
    return os.path.join(REPO, "data", "mnist")


def idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(d):
    missing = [f for f in FILES if not os.path.isfile(os.path.join(d, f))]
    if missing:
        sys.exit(f"peers.py: MNIST not found in {d!r} (missing {', '.join(missing)}); "
                 f"pass --data DIR or set KILN_DATA_DIR")
    xtr = idx(os.path.join(d, FILES[0])).astype("float32") / 255
    ytr = idx(os.path.join(d, FILES[1])).astype("int64")
    xte = idx(os.path.join(d, FILES[2])).astype("float32") / 255
    yte = idx(os.path.join(d, FILES[3])).astype("int64")
    return xtr, ytr, xte, yte


def predict_sps(one_pass, n):
    """One warm-up pass, then the median samples/s of PREDICT_PASSES timed passes."""
    one_pass()
    rates = []
    for _ in range(PREDICT_PASSES):
        t = time.perf_counter()
        one_pass()
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def epoch_line(e, seconds, loss, acc, val=None):
    line = f"epoch {e}: {seconds:.3f} s  loss {loss:.4f}  acc {acc:.4f}"
    if val is not None:
        line += f"  val_loss {val[0]:.4f}  val_acc {val[1]:.4f}"
    print(line, flush=True)


def keras_run(model_kind, epochs, data):
    xtr, ytr, xte, yte = load(data)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    keras.utils.set_random_seed(0)
    ytr1, yte1 = keras.utils.to_categorical(ytr, 10), keras.utils.to_categorical(yte, 10)
    L = keras.layers
    if model_kind == "mlp":
        model = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(128, activation="relu"),
                                  L.Dense(10, activation="softmax")])
        bs, split = 32, 0.0
    else:
        xtr, xte = xtr[..., None], xte[..., None]
        model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                                  L.MaxPooling2D(2), L.Conv2D(64, 3, activation="relu"),
                                  L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5),
                                  L.Dense(10, activation="softmax")])
        bs, split = 128, 0.1
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    times = []

    class T(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.t = time.perf_counter()

        # Keras runs the validation pass before on_epoch_end, so it is inside the epoch's time.
        def on_epoch_end(self, e, logs=None):
            times.append(time.perf_counter() - self.t)
            logs = logs or {}
            val = (logs["val_loss"], logs["val_accuracy"]) if "val_loss" in logs else None
            epoch_line(e + 1, times[-1], logs.get("loss", float("nan")),
                       logs.get("accuracy", float("nan")), val)

    model.fit(xtr, ytr1, epochs=epochs, batch_size=bs, validation_split=split, shuffle=True,
              verbose=0, callbacks=[T()])
    _, acc = model.evaluate(xte, yte1, verbose=0)
    sps = predict_sps(lambda: model.predict(xte, batch_size=PREDICT_BATCH, verbose=0), len(xte))
    return f"keras-{keras.__version__}-{keras.backend.backend()}", times, float(acc), sps


def torch_run(model_kind, epochs, data):
    xtr, ytr, xte, yte = load(data)
    import torch
    from torch import nn
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    if model_kind == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        bs, ntr = 32, len(xtr)
    else:
        xtr, xte = xtr[:, None], xte[:, None]
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                              nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                              nn.Linear(1600, 10))
        bs, ntr = 128, len(xtr) - len(xtr) // 10  # validation_split 0.1: the last 6000 validate
    xtr_t, ytr_t = torch.from_numpy(xtr[:ntr].copy()), torch.from_numpy(ytr[:ntr].copy())
    xval_t, yval_t = torch.from_numpy(xtr[ntr:].copy()), torch.from_numpy(ytr[ntr:].copy())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    lossf = nn.CrossEntropyLoss(reduction="sum")
    times = []
    for e in range(epochs):
        t = time.perf_counter()
        model.train()
        perm = torch.randperm(ntr)
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)
        for s in range(0, ntr, bs):
            i = perm[s:s + bs]
            yb = ytr_t[i]
            opt.zero_grad(set_to_none=True)
            out = model(xtr_t[i])
            loss = lossf(out, yb)
            (loss / len(i)).backward()  # mean over the batch, as Keras
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach()
                correct += (out.argmax(1) == yb).sum()
        val = None
        if len(xval_t):
            model.eval()
            vloss, vcorrect = 0.0, 0
            with torch.no_grad():
                for s in range(0, len(xval_t), bs):
                    out = model(xval_t[s:s + bs])
                    vloss += lossf(out, yval_t[s:s + bs]).item()
                    vcorrect += int((out.argmax(1) == yval_t[s:s + bs]).sum())
            val = (vloss / len(xval_t), vcorrect / len(xval_t))
        times.append(time.perf_counter() - t)
        epoch_line(e + 1, times[-1], loss_sum.item() / ntr, correct.item() / ntr, val)
    model.eval()
    xte_t = torch.from_numpy(xte.copy())
    with torch.no_grad():  # batched, as Keras's evaluate, so activations don't set peak RSS
        pred = torch.cat([model(xte_t[s:s + PREDICT_BATCH]).argmax(1)
                          for s in range(0, len(xte_t), PREDICT_BATCH)]).numpy()
    acc = float((pred == yte).mean())

    def one_pass():
        with torch.no_grad():
            for s in range(0, len(xte_t), PREDICT_BATCH):
                torch.softmax(model(xte_t[s:s + PREDICT_BATCH]), dim=1)

    sps = predict_sps(one_pass, len(xte_t))
    return f"torch-{torch.__version__}", times, acc, sps


def peer_main(a):
    print(f"{a.peer} {a.model}: {a.epochs} epochs, data {a.data}", flush=True)
    name, times, acc, sps = (keras_run if a.peer == "keras" else torch_run)(a.model, a.epochs, a.data)
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"predict: {sps:.0f} samples/s (batch {PREDICT_BATCH}, median of {PREDICT_PASSES} passes)")
    print(f"RESULT peer={name} model={a.model} s_per_epoch={steady:.3f} first={times[0]:.3f} "
          f"test_acc={acc:.4f} predict_sps={sps:.0f} peak_rss_mb={rss:.0f}", flush=True)


# ---------------------------------------------------------------------------------------- compare

def parse_result(line):
    fields = {}
    for tok in line.split()[1:]:
        k, sep, v = tok.partition("=")
        if sep:
            fields[k] = v
    missing = [k for k in RESULT_KEYS if k not in fields]
    if missing:
        raise ValueError(f"RESULT line lacks {', '.join(missing)}: {line!r}")
    out = {"peer": fields["peer"], "model": fields["model"]}
    for k in RESULT_KEYS[2:]:
        try:
            out[k] = float(fields[k])
        except ValueError:
            raise ValueError(f"RESULT field {k}={fields[k]!r} is not a number: {line!r}") from None
    return out


def tail(text, n=20):
    lines = text.rstrip().splitlines()
    return "\n".join("    " + s for s in lines[-n:]) or "    (empty)"


def run_child(label, argv, shell, env, model):
    shown = argv if shell else shlex.join(argv)
    print(f"== {label}: {shown}", flush=True)
    stdout_lines = []
    with tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen(argv, shell=shell, env=env, stdout=subprocess.PIPE, stderr=err,
                             text=True, bufsize=1)
        for line in p.stdout:
            stdout_lines.append(line)
            print(f"   {label}| {line}", end="", flush=True)
        rc = p.wait()
        err.seek(0)
        stderr = err.read()
    stdout = "".join(stdout_lines)
    if rc != 0:
        sys.exit(f"peers.py compare: {label} exited with status {rc}: {shown}\n"
                 f"  stderr (tail):\n{tail(stderr)}")
    results = [s for s in stdout_lines if s.startswith("RESULT ")]
    if not results:
        sys.exit(f"peers.py compare: {label} printed no RESULT line: {shown}\n"
                 f"  stdout (tail):\n{tail(stdout, 10)}\n  stderr (tail):\n{tail(stderr)}")
    nonempty = [s for s in stdout_lines if s.strip()]
    if nonempty[-1] is not results[-1]:
        print(f"   warning: {label}'s RESULT line is not its last line", flush=True)
    try:
        r = parse_result(results[-1].strip())
    except ValueError as e:
        sys.exit(f"peers.py compare: {label}: {e}")
    if r["model"] != model:
        sys.exit(f"peers.py compare: {label} reported model={r['model']}, expected {model}")
    return r


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def compare_main(a):
    me = os.path.abspath(__file__)
    extra = ["--epochs", str(a.epochs)] + (["--data", a.data] if a.data else [])
    keras_env = dict(os.environ, KERAS_BACKEND="jax")
    children = [
        ("kiln", a.kiln_cmd, True, dict(os.environ)),
        ("keras", [a.keras_python, me, "keras", a.model] + extra, False, keras_env),
        ("torch", [a.torch_python, me, "torch", a.model] + extra, False, dict(os.environ)),
    ]
    for label, argv, shell, _ in children[1:]:
        if not (os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)):
            sys.exit(f"peers.py compare: {label} python {argv[0]!r} is not an executable file "
                     f"(--{label}-python PATH)")
    runs = {label: [] for label, *_ in children}
    for r in range(a.rounds):
        print(f"=== round {r + 1}/{a.rounds} ({a.model})", flush=True)
        for label, argv, shell, env in children:
            runs[label].append(run_child(label, argv, shell, env, a.model))

    med = {}
    for label, rs in runs.items():
        med[label] = {k: statistics.median(x[k] for x in rs) for k in RESULT_KEYS[2:]}
        med[label]["peer"] = rs[-1]["peer"]
    print()
    print(f"{a.model}, {a.rounds} round(s), medians over rounds")
    w = max(len("peer"), *(len(m["peer"]) for m in med.values()))
    print(f"{'peer':<{w}}  {'s/epoch':>9}  {'test acc':>8}  {'predict samples/s':>17}  {'peak RSS MB':>11}")
    for m in med.values():
        print(f"{m['peer']:<{w}}  {m['s_per_epoch']:>9.3f}  {m['test_acc']:>8.4f}  "
              f"{m['predict_sps']:>17.0f}  {m['peak_rss_mb']:>11.0f}")
    k, ke, t = med["kiln"], med["keras"], med["torch"]
    print(f"kiln/keras s/epoch: {ratio(k['s_per_epoch'], ke['s_per_epoch'])}")
    print(f"kiln/torch s/epoch: {ratio(k['s_per_epoch'], t['s_per_epoch'])}")
    print(f"kiln/keras predict: {ratio(k['predict_sps'], ke['predict_sps'])}")
    print(f"kiln/torch predict: {ratio(k['predict_sps'], t['predict_sps'])}")
    print(f"kiln/keras peak RSS: {ratio(k['peak_rss_mb'], ke['peak_rss_mb'])}", flush=True)


def main():
    venv_python = os.path.expanduser("~/venvs/peers/bin/python")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="peer", required=True, metavar="keras|torch|compare")

    def common(p, data_default):
        p.add_argument("model", choices=["mlp", "cnn"])
        p.add_argument("--epochs", type=int, default=3)
        p.add_argument("--data", default=data_default,
                       help="MNIST dir (default: $KILN_DATA_DIR/mnist, else <repo>/data/mnist)")

    for name in ("keras", "torch"):
        common(sub.add_parser(name, help=f"train and time the {name} peer"), default_data_dir())
    c = sub.add_parser("compare", help="run Kiln, Keras and PyTorch in turn and compare")
    common(c, None)
    c.add_argument("--kiln-cmd", required=True,
                   help="shell command that prints a RESULT line last (include its --epochs)")
    c.add_argument("--keras-python", default=venv_python)
    c.add_argument("--torch-python", default=venv_python)
    c.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    if a.epochs < 1:
        ap.error("--epochs must be at least 1")
    if a.peer == "compare":
        if a.rounds < 1:
            ap.error("--rounds must be at least 1")
        compare_main(a)
    else:
        peer_main(a)


if __name__ == "__main__":
    sys.exit(main())
