"""compare() lives in its own module and is exactly explain() per method plus the scores of
deletion_insertion(): the same maps and the same numbers as calling them one by one."""
import numpy as np

import neuralscope as ns
from neuralscope.attribution import compare as compare_module  # the function (package attribute)
from neuralscope.attribution.explain import explain
from neuralscope.attribution.metrics import deletion_insertion
from neuralscope.zoo import DigitsCNN


def test_compare_is_explain_per_method_plus_deletion_insertion_scores():
    import importlib

    module = importlib.import_module("neuralscope.attribution.compare")
    assert ns.compare is module.compare is compare_module and ns.Comparison is module.Comparison
    net = DigitsCNN().eval()
    x = net.example_input(3)
    options = {"grad_cam": {"layer": "features"}, "integrated_gradients": {"steps": 8}}
    c = ns.compare(net, x, methods=["saliency", "grad_cam", "integrated_gradients"], options=options, steps=6)
    targets = c.results["saliency"].targets
    for m in c.methods:
        alone = explain(net, x, target=targets, method=m, **options.get(m, {}))
        np.testing.assert_array_equal(c.results[m].attributions, alone.attributions)
        curves = deletion_insertion(net, x, alone, targets, steps=6)
        np.testing.assert_array_equal(c.scores[m]["deletion_auc"], curves.deletion_auc)
        np.testing.assert_array_equal(c.scores[m]["insertion_auc"], curves.insertion_auc)
    np.testing.assert_array_equal(c.scores["integrated_gradients"]["completeness_error"],
                                  c.results["integrated_gradients"].metrics["completeness_error"])


def test_metrics_take_method_objects_with_the_results_of_method_names(unchanged):
    from neuralscope.attribution import GradCAM, IntegratedGradients
    from neuralscope.attribution.metrics import data_randomization, max_sensitivity, model_randomization

    net = DigitsCNN().eval()
    other = DigitsCNN().eval()
    x = net.example_input(2)
    with unchanged(net):
        by_name = model_randomization(net, x, method="grad_cam", layer="features")
        by_object = model_randomization(net, x, method=GradCAM(net, layer="features"))
    np.testing.assert_array_equal(by_name.spearman, by_object.spearman)
    assert by_object.method == "grad_cam" and by_name.steps == by_object.steps
    ig = IntegratedGradients(net, steps=8)
    np.testing.assert_array_equal(data_randomization(net, other, x, method=ig, target=1).ssim,
                                  data_randomization(net, other, x, method="integrated_gradients", target=1,
                                                     steps=8).ssim)
    np.testing.assert_array_equal(max_sensitivity(net, x, method=ig, target=1),
                                  max_sensitivity(net, x, method="integrated_gradients", target=1, steps=8))

