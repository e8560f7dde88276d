"""How the demo runs: its sections that import TensorFlow are built last (the report keeps
name order), and its torch thread setting is given back, also when a section fails."""
from types import SimpleNamespace

import pytest
import torch

import neuralscope.demo as demo


def test_sections_that_import_tensorflow_are_built_after_the_others_in_name_order():
    names = [name for name, _ in demo.section_modules()]
    order = [name for name, _ in demo.build_order(demo.section_modules())]
    tensorflow = {"55_keras"}  # the inside section no longer projects with UMAP (umap-learn imports TensorFlow)
    assert order[-len(tensorflow):] == sorted(tensorflow)
    assert order[:-len(tensorflow)] == [n for n in names if n not in tensorflow]


def test_build_order_keeps_name_order_among_equals():
    mods = [("a", SimpleNamespace(IMPORTS_TENSORFLOW=True)), ("b", SimpleNamespace()), ("c", SimpleNamespace()),
            ("d", SimpleNamespace(IMPORTS_TENSORFLOW=True))]
    assert [n for n, _ in demo.build_order(mods)] == ["b", "c", "a", "d"]


def test_run_demo_gives_the_thread_setting_back_when_the_build_fails(monkeypatch, tmp_path):
    before = torch.get_num_threads()
    seen = []

    def failing_build(out, **kw):
        seen.append(torch.get_num_threads())
        raise RuntimeError("a section failed")

    monkeypatch.setattr(demo, "_build", failing_build)
    with pytest.raises(RuntimeError, match="a section failed"):
        demo.run_demo(tmp_path, threads=1)
    assert seen == [1]
    assert torch.get_num_threads() == before


def test_run_demo_refuses_zero_threads_in_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="threads must be a positive number"):
        demo.run_demo(tmp_path, threads=0)


def test_run_demo_refuses_a_third_process_in_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="processes must be 1 or 2"):
        demo.run_demo(tmp_path, processes=3)


def test_sections_in_the_second_process_need_only_the_digits_models():
    import inspect

    beside = [name for name, module in demo.section_modules() if getattr(module, "SECOND_PROCESS", False)]
    assert beside == ["30_attribution", "50_tracking", "55_keras", "60_tabular", "65_signals", "70_landscape"]
    for name, module in demo.section_modules():
        if name in beside:
            assert "ctx.scenes" not in inspect.getsource(module), name


def test_a_failure_in_the_second_process_is_raised_in_the_first_with_its_traceback(tmp_path):
    from neuralscope.demo.second_process import SecondProcess

    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("")
    with pytest.raises(OSError) as raised:
        with SecondProcess(blocked, epochs=1, sections=[], fast=True, show_progress=False, threads=1) as second:
            second.models()
    assert any("raised in the demo's second process" in note for note in raised.value.__notes__)
