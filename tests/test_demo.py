"""The main job end to end: `neuralscope demo --no-serve` writes every section, a
self-contained report, and a run holding each section's result objects."""
import re

from neuralscope.cli import main
from neuralscope.track.store import RunReader


def test_demo_writes_every_section_a_self_contained_report_and_the_results_run(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "3", "--fast", "--no-serve"]) == 0
    index = (out / "index.html").read_text()
    for section in ("graph", "inside", "attribution", "localization", "attention", "featurevis", "tracking",
                    "landscape"):
        assert f'id="{section}"' in index, section
    # every image the index shows exists on disk
    for src in re.findall(r'<img[^>]*\bsrc="([^"]+)"', index):
        assert (out / src).is_file(), src
    report = (out / "report.html").read_text()
    assert not re.findall(r'<img[^>]*\bsrc="(?!data:)', report), "report.html must not reference files"
    kinds = {r["kind"] for r in RunReader(out / "results").results()}
    assert {"graph", "attribution_comparison", "attention", "feature_vis", "loss_landscape", "trajectory"} <= kinds
