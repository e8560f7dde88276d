"""Demo section: the digits CNN built in Keras, trained by ``model.fit`` with
``neuralscope.keras.Callback`` into a run beside the PyTorch one, with its graph read from
Keras's own layer graph and the inside views through the Keras adapter."""
from __future__ import annotations

import html
import shutil
import time

from .. import DemoContext, Section

SECOND_PROCESS = True  # needs only the digits models: built in the demo's second process

NAME = "keras"
IMPORTS_TENSORFLOW = True  # Keras on its TensorFlow backend: built after the other sections
EPOCHS = 3
EVERY = 10


def build(ctx: DemoContext) -> Section:
    try:
        import keras
    except ImportError:
        return Section("Keras", "<p>Keras is not installed (<code>pip install 'neuralscope[keras]'</code>); "
                                "this section needs it.</p>")
    import matplotlib.pyplot as plt

    from ...graph.api import graph
    from ...inspect import conv_filters, dead_units, embed_layer, feature_maps
    from ...keras import Callback
    from ...track import Run, open_run
    from ...zoo import keras_digits_cnn

    data = ctx.data
    x_train = data.x_train.permute(0, 2, 3, 1).numpy()  # Keras images are channels last
    x_test = data.x_test.permute(0, 2, 3, 1).numpy()
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    keras.utils.set_random_seed(0)
    model = keras_digits_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    run_dir = ctx.out / "run_keras"
    shutil.rmtree(run_dir, ignore_errors=True)
    epochs = 2 if ctx.fast else EPOCHS
    t0 = time.perf_counter()
    with Run(run_dir, config={"model": "DigitsCNN (Keras)", "batch_size": 64}, tags=["demo", "keras"]) as run:
        history = model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_data=(x_test, y_test),
                            verbose=0, callbacks=[Callback(run, every=EVERY, data=(x_train[:64], y_train[:64]))])
    seconds = time.perf_counter() - t0
    accuracy = history.history["val_accuracy"][-1]

    figs: list[tuple[str, str]] = []

    def fig(result, name: str, caption: str) -> None:
        result.save(ctx.path(NAME, name))
        figs.append((name, caption))
        ctx.log(result, f"inside/keras_digits_cnn/{name.rsplit('.', 1)[0]}")

    g = graph(model, x_test[:1])
    g.save(ctx.path(NAME, "graph.svg"))
    # (not logged to ``results``: the Graph page shows a run's last graph, which must stay the scene
    # CNN's, whose layers carry that run's statistics; the Keras run has its own graph and statistics)
    fig(conv_filters(model, "conv1"), "filters.png", "First-layer filters (Keras kernels in the canonical (out, in, kh, kw) layout)")
    fig(feature_maps(model, x_test, "relu2", index=0), "feature_maps.png",
        f"Feature maps after the 2nd conv block for test digit 0 (label {int(y_test[0])})")
    fig(dead_units(model, x_test), "dead_units.png", "Dead units of the ReLU layers on the test set")
    fig(embed_layer(model, x_test, "pool", labels=y_test), "embedding.png", "PCA of the pooled features, by label")

    reader = open_run(run_dir)
    diag = reader.diagnostics()
    fig_, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
    reader.scalars("loss").plot(ax=a1, label="training loss (running mean per epoch)")
    reader.scalars("val_loss").plot(ax=a1, label="validation loss", color="#d62728")
    a1.set_ylabel("cross-entropy loss")
    a1.set_title("Keras fit tracked by neuralscope.keras.Callback", fontsize=10)
    a1.legend(fontsize=8)
    layers = [n for n in reader.names("scalar") if n.startswith("gradients/norm/") and n.count("/") == 2]
    for name in layers:
        reader.scalars(name).plot(ax=a2, label=name.split("/")[-1], logy=True)
    a2.set_ylabel("gradient norm on the held batch")
    a2.set_title(f"Gradient norm per layer (every {EVERY} steps)", fontsize=10)
    a2.legend(fontsize=7, ncol=2)
    fig_.tight_layout()
    fig_.savefig(ctx.path(NAME, "training.png"), dpi=120, bbox_inches="tight")
    plt.close(fig_)
    n_series = len(reader.names("scalar"))
    reader.close()

    items = "".join(f'<figure><img src="{NAME}/{n}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}'
                    f"</figcaption></figure>" for n, c in figs)
    body = (
        f"<p>The digits CNN of the other sections, built layer by layer in Keras "
        f"(<code>neuralscope.zoo.keras_digits_cnn()</code>, backend <code>{keras.backend.backend()}</code>), "
        f"trained with <code>model.fit(..., callbacks=[neuralscope.keras.Callback(run, every={EVERY}, "
        f"data=held_batch)])</code> for {epochs} epochs ({seconds:.1f} s): validation accuracy "
        f"{accuracy:.1%}, {n_series} scalar series in <code>run_keras/</code>, shown in the dashboard beside the "
        f"PyTorch run.</p>"
        f'<img src="{NAME}/training.png" alt="training curves">'
        f'<h3>Graph from Keras\'s own layer graph</h3><img src="{NAME}/graph.svg" alt="graph of the Keras model">'
        f"<h3>Inside, through the Keras adapter</h3>{items}"
        f"<h3>Diagnostics</h3>{diag.html_table()}"
    )
    return Section("Keras", body)

