"""Shared fixtures: tiny auxiliary models and their templates files."""
import logging
import warnings

import pytest
import torch
from mmengine.logging import MMLogger
from wave_helpers import TINY_AUX

import wave_mm  # noqa: F401
from wave_mm.models import WaveTemplate

warnings.filterwarnings('ignore', message='Fail to import')
MMLogger.get_instance('mmengine', log_level=logging.WARNING)


@pytest.fixture
def aux() -> WaveTemplate:
    torch.manual_seed(0)
    model = WaveTemplate(**TINY_AUX)
    model.init_weights()
    model.eval()
    return model


@pytest.fixture
def templates_file(aux, tmp_path) -> str:
    path = str(tmp_path / 'templates.safetensors')
    aux.export_templates(path, ancestry='unit test')
    return path


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny shapes gain nothing from intra-op threads; with the cores busy
    elsewhere, two threads make a step take seconds instead of ms."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def weights_only_loads(monkeypatch):
    """Force ``torch.load(weights_only=True)`` and record the loaded paths;
    fails a test whose code asks for ``weights_only=False``."""
    real_load, loaded = torch.load, []

    def load(f, *args, **kwargs):
        assert kwargs.get('weights_only', True) is True
        loaded.append(str(f))
        return real_load(f, *args, **dict(kwargs, weights_only=True))

    monkeypatch.setattr(torch, 'load', load)
    return loaded
