"""`python -m neuralscope` is the same command as the `neuralscope` console script."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("neuralscope")


def _run(cmd, cwd):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_python_dash_m_prints_what_the_console_script_prints(tmp_path):
    module = _run([sys.executable, "-m", "neuralscope", "--version"], tmp_path)
    script = _run([str(SCRIPT), "--version"], tmp_path)
    assert module.returncode == script.returncode == 0
    assert module.stdout == script.stdout and module.stdout.startswith("neuralscope ")


def test_python_dash_m_reports_errors_in_one_line_with_exit_code_2(tmp_path):
    done = _run([sys.executable, "-m", "neuralscope", "graph", "missing.onnx", "-o", "x.html"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "missing.onnx" in done.stderr
