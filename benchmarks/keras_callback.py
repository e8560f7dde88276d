"""What ``neuralscope.keras.Callback`` adds to a Keras ``fit`` step (target: under 5% at its
default settings), beside ``keras.callbacks.TensorBoard`` doing its own logging.

A small digits CNN (conv 32 + BatchNorm, conv 64, dense 64, dropout; Adam) trains on the
1,797 scikit-learn digits, batch 32 (51 steps per epoch), ``verbose=0``, for ``--epochs``
epochs. Each round runs, from the same initial weights: a plain ``fit``; ``fit`` with the
callback at its defaults (batch metrics every batch, weights + gradients + activations every
100 batches on a held batch of 64, the graph logged once at the start); ``fit`` with
TensorBoard (``histogram_freq=1``, ``update_freq="batch"``, graph written). Rounds are
interleaved so a busy machine slows all three alike; each ratio is the median over rounds of
(with callback) / (plain) within the round. "Whole fit" includes the one-time costs (opening
the run, the graph, the first gradient pass, in which TensorFlow instantiates its gradient
kernels: about 0.5 s); "steady state" is the time per step of a long fit minus a short one,
what the callback costs each step of a longer training. "In its hooks" adds up the time spent
inside the callback's own methods (wall and CPU), which a busy machine disturbs far less than
the difference of two fits: the steady ms per step there over the plain fit's steady step
(CPU: the process's on fit's thread, where TensorFlow's own threads run the held-batch pass; a
worker thread's own on Keras's worker threads). Not a test.

``--backend jax`` or ``torch`` runs the same on that Keras backend (Keras picks it once per
process). There Keras dispatches batch-end hooks to worker threads when every callback is
``async_safe`` (the callback is), the TensorBoard row is left out (it would load TensorFlow), and a row runs the callback with its hooks forced onto
fit's thread (``async_safe=False``: every step waits for its logs), the dispatch it had before.
On TensorFlow Keras never dispatches asynchronously (``backend.IS_THREAD_SAFE`` is False), with
or without callbacks, so that row is left out.

Loaded machine (load average 4-7 on 2 cores), 3 rounds, after the pass was traced from the
first watched step with its statistics on the host: steady state 1.02x wall / 0.98x CPU; in
its hooks 0.36 ms of CPU per steady step (0.044x of the plain step's CPU), 0.57 ms wall
(0.060x); whole fit 0.79 ms CPU per step in its hooks (0.094x: the trace, the graph). Before
(eager watched steps, quiet): steady 1.34x. Rerun quietly to confirm:

    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/keras_callback.py
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[..., None] / 16).astype("float32"), d.target.astype("int64")


def make_model(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    m = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(64, activation="relu", name="fc"),
        keras.layers.Dropout(0.2, name="drop"),
        keras.layers.Dense(10, name="head")], name="digits_cnn")
    m.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return m


#: the callback methods Keras calls during fit
HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end", "on_epoch_end",
         "on_train_end")


def with_hook_clock(callback, spent: list):
    """``callback`` with the wall and CPU seconds spent in its hooks added to ``spent``: on
    fit's thread the process's CPU time (TensorFlow runs the held-batch pass on its own
    threads), on a Keras worker thread that thread's own (the process's would count fit's
    thread, which goes on meanwhile)."""
    lock = threading.Lock()

    def timed(hook):
        def run(*args, **kwargs):
            cpu_clock = time.process_time if threading.current_thread() is threading.main_thread() else time.thread_time
            t0, c0 = time.perf_counter(), cpu_clock()
            try:
                return hook(*args, **kwargs)
            finally:
                with lock:
                    spent[0] += time.perf_counter() - t0
                    spent[1] += cpu_clock() - c0
        return run
    for name in HOOKS:
        setattr(callback, name, timed(getattr(callback, name)))
    return callback


def timed_fit(x, y, epochs: int, callbacks_for) -> float:
    m = make_model()
    m.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # compile the train function first
    callbacks = callbacks_for(m)
    t0, c0 = time.perf_counter(), time.process_time()
    m.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=True)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None,
                    help="the Keras backend (default: Keras's configured one)")
    args = ap.parse_args()
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    import keras

    import neuralscope
    from neuralscope.track import Run

    x, y = digits()
    steps = args.epochs * int(np.ceil(len(x) / 32))
    tmp = tempfile.mkdtemp()
    runs = []

    hooks = []  # [wall, cpu] seconds in the callback's hooks, one per fit

    def ours(m, async_safe=True):
        run = Run(os.path.join(tmp, f"run{len(runs)}"))
        runs.append(run)
        callback = neuralscope.keras.Callback(run, data=(x[:64], y[:64]))
        if async_safe:
            hooks.append([0.0, 0.0])
            return [with_hook_clock(callback, hooks[-1])]
        callback.async_safe = False  # Keras then calls every batch-end hook on fit's thread
        return [callback]

    def tensorboard(m):
        return [keras.callbacks.TensorBoard(os.path.join(tmp, f"tb{len(runs)}_{time.time()}"), histogram_freq=1,
                                            update_freq="batch", write_graph=True)]

    configs = {"plain": lambda m: [], "ours": ours}
    if keras.backend.backend() == "tensorflow":  # elsewhere it would load TensorFlow, slowing the backend's work
        configs["tensorboard"] = tensorboard
    dispatches_async = keras.src.backend.IS_THREAD_SAFE  # read by keras's CallbackList
    if dispatches_async:
        configs["ours_sync"] = lambda m: ours(m, async_safe=False)
    short = max(1, args.epochs // 4)
    total = {k: [] for k in configs}
    steady = {k: [] for k in configs}
    cpu = {k: [] for k in configs}
    for _ in range(args.rounds):
        for name, cbs in configs.items():
            t_long, c_long = timed_fit(x, y, args.epochs, cbs)
            t_short, c_short = timed_fit(x, y, short, cbs)
            for run in runs:
                if not run.closed:
                    run.close()
            total[name].append(t_long)
            steady[name].append(t_long - t_short)
            cpu[name].append(c_long - c_short)
    steps_short = short * int(np.ceil(len(x) / 32))

    def ratio(d, k):
        return statistics.median(o / p for o, p in zip(d[k], d["plain"]))

    print(f"keras {keras.__version__} ({keras.backend.backend()}), {args.epochs} epochs x "
          f"{steps // args.epochs} steps, {args.rounds} interleaved rounds (machine load shows in the spread)")
    print(f"{'':38s}{'whole fit':>22s}{'steady state':>26s}{'steady, CPU time':>20s}")
    rows = [("plain", "plain fit"), ("ours", "neuralscope.keras.Callback defaults"),
            ("tensorboard", "keras TensorBoard(histogram_freq=1)"), ("ours_sync", "  the same, hooks on fit's thread")]
    rows = [(k, label) for k, label in rows if k in configs]
    for k, label in rows:
        per = statistics.median(total[k]) / steps * 1e3
        per_steady = statistics.median(steady[k]) / (steps - steps_short) * 1e3
        print(f"{label:38s}{per:8.2f} ms/step {ratio(total, k):6.3f}x{per_steady:12.2f} ms/step {ratio(steady, k):6.3f}x"
              f"{ratio(cpu, k):14.3f}x")
    long_short = list(zip(hooks[0::2], hooks[1::2]))  # ours runs a long fit, then a short one
    plain_wall = statistics.median(steady["plain"]) / (steps - steps_short)
    plain_cpu = statistics.median(cpu["plain"]) / (steps - steps_short)
    for i, label in ((0, "wall"), (1, "CPU")):
        whole = statistics.median(lng[i] for lng, _ in long_short) / steps
        per = statistics.median(lng[i] - sht[i] for lng, sht in long_short) / (steps - steps_short)
        base = plain_wall if i == 0 else plain_cpu
        print(f"{'in its hooks, ' + label:38s}{whole * 1e3:8.2f} ms/step {whole / base:6.3f}x"
              f"{per * 1e3:12.2f} ms/step {per / base:6.3f}x   (of the plain steady step, {label})")
    print("whole fit: one-time costs (graph, first gradient pass tracing TensorFlow's kernels) included; "
          f"steady state: the time of {args.epochs} epochs minus that of {short}, per step (target < 1.05x); "
          "CPU time: this process's, which other processes' load disturbs less than wall time; "
          f"batch-end hooks {'on worker threads' if dispatches_async else 'on fit thread (TensorFlow)'}")


if __name__ == "__main__":
    main()
