"""The main job end to end: `neuralscope demo --no-serve` writes every section, a
self-contained report, and a run holding each section's result objects."""
import re

import pytest

from neuralscope.track.store import RunReader

pytestmark = pytest.mark.xdist_group("demo")  # the demo is built once for this module and the dashboard's


def test_demo_writes_every_section_a_self_contained_report_and_the_results_run(fast_demo):
    code, out = fast_demo
    assert code == 0
    index = (out / "index.html").read_text()
    for section in ("graph", "inside", "attribution", "localization", "attention", "featurevis", "tracking", "keras",
                    "tabular", "signals", "landscape"):
        assert f'id="{section}"' in index, section
    # every image the index shows exists on disk
    for src in re.findall(r'<img[^>]*\bsrc="([^"]+)"', index):
        assert (out / src).is_file(), src
    report = (out / "report.html").read_text()
    assert not re.findall(r'<img[^>]*\bsrc="(?!data:)', report), "report.html must not reference files"
    logged = RunReader(out / "results").results()
    kinds = {r["kind"] for r in logged}
    # the Graph page shows a run's last graph: the watched scene CNN's, whose layers carry the run's statistics
    assert [r["name"] for r in logged if r["kind"] == "graph"][-1] == "graph/scene_cnn"
    # the loss landscape, its trajectory and the tabular explanation come from the demo's second process
    assert {"graph", "attribution_comparison", "attention", "feature_vis", "loss_landscape", "trajectory"} <= kinds
