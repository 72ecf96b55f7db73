"""tinygen/settings.py: every setting a getter, a setter and a use_* block, the environment
read by from_environment, and the names the docs first showed still naming the same functions."""
import os
import subprocess
import sys
import threading

import pytest

import tinygen as tg
from tinygen import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_names_the_docs_first_showed_are_the_settings_own():
    assert tg.backend.use_kernels is settings.use_kernels
    assert tg.backend.kernel_mode is settings.kernel_mode
    assert tg.kernels.use_conv_algorithm is settings.use_conv_algorithm
    assert tg.set_num_threads is settings.set_num_threads is tg.runtime.set_num_threads
    assert tg.get_num_threads is settings.get_num_threads


def test_each_block_puts_the_value_from_before_back_whatever_the_block_set():
    threads, mode = settings.get_num_threads(), settings.kernel_mode()
    with settings.use_num_threads(1):
        assert settings.get_num_threads() == 1
        settings.set_num_threads(2)
    assert settings.get_num_threads() == threads
    with settings.use_kernels("reference"):
        settings.set_kernel_mode("fast")
    assert settings.kernel_mode() == mode
    with settings.use_conv_algorithm("phases"):
        settings.set_conv_algorithm("im2col")
        assert settings.conv_algorithm() == "im2col"
    assert settings.conv_algorithm() == (os.environ.get("TINYGEN_CONV_ALGO") or None)
    for bad in (lambda: settings.use_num_threads(0).__enter__(),
                lambda: settings.use_kernels("fastest").__enter__(),
                lambda: settings.set_conv_algorithm("fastest")):
        with pytest.raises(ValueError):
            bad()


def test_set_conv_algorithm_is_the_setting_threads_alone():
    seen = []

    def other():
        settings.set_conv_algorithm("col2im")
        seen.append(settings.conv_algorithm())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == ["col2im"]
    assert settings.conv_algorithm() == (os.environ.get("TINYGEN_CONV_ALGO") or None)


def test_from_environment_reads_and_checks_a_variable(monkeypatch):
    monkeypatch.setenv("TINYGEN_KERNELS", "")
    assert settings.from_environment("TINYGEN_KERNELS", settings.KERNEL_MODES, "fast") == "fast"
    monkeypatch.setenv("TINYGEN_KERNELS", "fastest")
    with pytest.raises(ValueError, match="TINYGEN_KERNELS='fastest'"):
        settings.from_environment("TINYGEN_KERNELS", settings.KERNEL_MODES, "fast")


@pytest.mark.parametrize("value, printed", [("reference", "tinygen.kernels.conv_numpy"),
                                            ("fastest", "ValueError")])
def test_tinygen_kernels_is_read_at_the_first_question_not_at_import(value, printed):
    code = ("import tinygen\nfrom tinygen.kernels import implementation\n"
            "try:\n    print(implementation('conv', 'cpu').__name__)\n"
            "except ValueError:\n    print('ValueError')")
    env = dict(os.environ, TINYGEN_KERNELS=value)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == printed
