"""helpers.runtime: the fast-mode switch, device choice, seeding and the one-line description."""
import random

import numpy as np
import pytest
import torch

import helpers
from helpers import runtime


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)


def test_helpers_reexports_the_runtime_api():
    for name in ("fast_mode", "pick", "get_device", "set_seed", "describe"):
        assert getattr(helpers, name) is getattr(runtime, name)


# --- fast mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_fast_mode_on(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert runtime.fast_mode() is True
    assert runtime.pick(fast=200, full=5000) == 200


@pytest.mark.parametrize("value", [None, "", "0", "false", "No", "off"])
def test_fast_mode_off(monkeypatch, value):
    if value is not None:
        monkeypatch.setenv("COURSE_FAST", value)
    assert runtime.fast_mode() is False
    assert runtime.pick(fast=200, full=5000) == 5000


@pytest.mark.parametrize("value", ["2", "fast", "y e s"])
def test_fast_mode_rejects_unclear_values(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    with pytest.raises(ValueError, match=rf"COURSE_FAST={value!r} is not understood: set it to 1"):
        runtime.fast_mode()
    with pytest.raises(ValueError):
        runtime.pick(fast=1, full=2)


def test_pick_needs_both_values_by_name():
    with pytest.raises(TypeError):
        runtime.pick(1, 2)
    assert runtime.pick(fast=[1], full=[2]) == [2]


# --- devices --------------------------------------------------------------------------------


def test_course_device_cpu(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")


def test_prefer_argument(monkeypatch):
    assert runtime.get_device("cpu") == torch.device("cpu")
    assert runtime.get_device(torch.device("cpu")) == torch.device("cpu")


def test_course_device_cuda_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE='cuda' asks for a GPU.*Unset COURSE_DEVICE"):
        runtime.get_device()
    with pytest.raises(RuntimeError, match=r"get_device\('cuda:0'\) asks for a GPU.*Ask for 'cpu'"):
        runtime.get_device("cuda:0")


def test_course_device_mps_without_mps_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "mps")
    with pytest.raises(RuntimeError, match="Apple's MPS, which is not available here"):
        runtime.get_device()


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "meta", "banana"])
def test_course_device_nonsense_is_a_value_error(monkeypatch, value):
    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(ValueError, match=r"is not a device the course runs on: use cpu, cuda"):
        runtime.get_device()


def test_automatic_choice_is_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert runtime.get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.get_device() == torch.device("cpu")


# --- seeding --------------------------------------------------------------------------------


def draws(generator):
    return (
        random.random(),
        float(np.random.rand()),
        torch.rand(3).tolist(),
        torch.randn(2, generator=generator).tolist(),
        torch.nn.Linear(4, 2).weight.detach().flatten().tolist(),  # layer initialisation
    )


def test_set_seed_makes_runs_repeat():
    first = draws(runtime.set_seed(7))
    again = draws(runtime.set_seed(7))
    other = draws(runtime.set_seed(8))
    assert first == again
    for a, b in zip(first, other):
        assert a != b


def test_set_seed_returns_a_generator_seeded_the_same():
    generator = runtime.set_seed(3)
    assert isinstance(generator, torch.Generator)
    assert generator.initial_seed() == 3


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, None])
def test_set_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        runtime.set_seed(seed)


# --- describe -------------------------------------------------------------------------------


def test_describe_names_torch_device_and_mode(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setenv("COURSE_FAST", "1")
    assert runtime.describe() == f"torch {torch.__version__} on cpu, fast mode (COURSE_FAST=1)"
    monkeypatch.setenv("COURSE_FAST", "0")
    assert runtime.describe() == f"torch {torch.__version__} on cpu, full mode"
    assert "\n" not in runtime.describe()


def test_importing_helpers_data_does_not_load_torch():
    """Loading data (and the offline error) must not wait seconds for torch to import."""
    import subprocess
    import sys

    code = "import sys, helpers, helpers.data; print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"import helpers.data loaded {result.stdout.strip()}"
