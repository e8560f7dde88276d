"""Shared fixtures: the model-unchanged check, headless Chromium, quiet matplotlib."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import matplotlib
import pytest
import torch
import torch._dynamo  # see below

# Triton, which torch._dynamo imports (also on the first use of any torch.optim optimizer),
# crashes a process that has already loaded TensorFlow (torch 2.14 + TensorFlow 2.21: a
# segmentation fault inside triton's import). Test modules import Keras/TensorFlow at
# collection, so torch._dynamo (and Triton) must be loaded first, here.

matplotlib.use("Agg")
# Two pytest workers on two cores: one thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

from neuralscope.testing import model_unchanged

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def unchanged():
    """``with unchanged(model): ...`` fails the test if the block changes the model in any
    way (parameters bit for bit, buffers, modes, requires_grad, .grad, hooks), also when
    the block raises (combine with ``pytest.raises``)."""
    return model_unchanged


@pytest.fixture(scope="session")
def fast_demo(tmp_path_factory):
    """``neuralscope demo --out OUT --epochs 3 --fast --no-serve`` run once per test session:
    ``(exit code, OUT)``. The pytest-xdist workers of one session share it through a file
    lock; the modules that use it are in the xdist group "demo" (``make test`` runs with
    ``--dist loadgroup``), so one worker builds it and no other waits for it."""
    from filelock import FileLock

    from neuralscope.cli import main

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # (the workers' common folder)
    out, code = root / "fast_demo", root / "fast_demo.exit_code"
    with FileLock(str(root / "fast_demo.lock")):
        if not code.exists():
            code.write_text(str(main(["demo", "--out", str(out), "--epochs", "3", "--fast", "--no-serve"])))
    return int(code.read_text()), out


@pytest.fixture(scope="session")
def playwright_driver():
    """The test process's one Playwright driver: a second ``sync_playwright()`` in a process
    fails while the first is open, so every browser a test launches comes from this one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """Debian's headless Chromium driven by Playwright (never a browser download)."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make setup` installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    b = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors in ``page.console_errors``.

    The dashboard and the HTML exports send a Content-Security-Policy that forbids eval,
    which Playwright's string predicates (``wait_for_function("...")``) use; these pages are
    opened with ``bypass_csp``. The policy itself is tested, with the pages working under
    it, in tests/test_security_markup.py and tests/test_fuzz_names.py."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    context.close()


@pytest.fixture
def on_keras_backend():
    """``run(script, backend)``: the Python ``script`` in a fresh process whose Keras runs on
    ``backend`` (``"jax"`` or ``"torch"``; Keras picks its backend once per process), on the
    CPU; it passes when the script exits cleanly and prints ``ok <backend>``."""
    def run(script: str, backend: str, timeout: int = 600) -> None:
        if backend == "jax":
            pytest.importorskip("jax")
        env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0 and f"ok {backend}" in done.stdout, done.stderr[-3000:]
    return run
