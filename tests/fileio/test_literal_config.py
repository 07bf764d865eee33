"""Stored configs are read as literals, never run."""
import pytest
import torch
from mmengine.config import Config

from wave_mm.fileio import TemplatesFileError, literal_assignment
from wave_mm.models import WaveTemplate


def test_reads_an_mmengine_pretty_text():
    cfg = Config(
        dict(
            model=dict(
                type='ImageClassifier',
                backbone=dict(
                    type='WaveTemplate',
                    arch=dict(embed_dims=64, num_layers=2),
                    img_size=(16, 16),
                    drop_rate=-0.0,
                    layer_cfgs={'a-b': None}),
                head=[1, 2.5, True, 'x']),
            other=dict(type='Something')))
    model = literal_assignment(cfg.pretty_text, 'model', 'c.pth')
    assert model == cfg.model.to_dict() | dict(
        backbone=dict(cfg.model.backbone.to_dict(), img_size=(16, 16)))


@pytest.mark.parametrize('text,words', [
    ("model = __import__('os').system('touch M')",
     'model in the stored config is not a literal'),
    ('model = dict({1: 2})', 'has a key that is not a string'),
    ('model = dict([1])', 'model in the stored config is not a literal'),
    ('model = dict(a=open("M", "w"))', r'model.a in the stored config is'),
    ('model = dict(a=x)', r'model.a in the stored config is not a literal'),
    ('model = dict(**x)', 'model in the stored config is not a literal'),
    ('model = dict(a=1 + 2)', 'model.a in the stored config'),
    ('model = {1: 2}', 'has a key that is not a string'),
    ('model = [lambda: 0]', r'model\[0\] in the stored config'),
    ('x = 1', "assigns no 'model'"),
    ('model = (', 'does not parse'),
    ('model = ' + '[' * 40 + ']' * 40, 'nested deeper|does not parse'),
    ('model = ' + '[' * 2000 + ']' * 2000, 'does not parse|nested deeper'),
])
def test_refuses_anything_but_literals(text, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplatesFileError, match=words) as err:
        literal_assignment(text, 'model', 'c.pth')
    assert 'c.pth' in str(err.value)
    assert not (tmp_path / 'M').exists()


def test_refuses_text_that_is_not_text():
    for text in (None, b'model = 1', 'x' * (1 << 23)):
        with pytest.raises(TemplatesFileError, match='is not text'):
            literal_assignment(text, 'model', 'c.pth')


def test_from_checkpoint_never_runs_the_stored_config(aux, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = {f'backbone.{k}': v for k, v in aux.state_dict().items()}
    path = str(tmp_path / 'run.pth')
    torch.save(
        dict(
            state_dict=state,
            meta=dict(cfg="import os\nos.system('touch M')\nmodel = dict("
                      "backbone=dict(type='WaveTemplate', arch=os.arch))")),
        path)
    with pytest.raises(TemplatesFileError, match='run.pth: model.backbone'):
        WaveTemplate.from_checkpoint(path)
    assert not (tmp_path / 'M').exists()


def test_from_checkpoint_refuses_what_does_not_build(aux, tmp_path):
    state = {f'backbone.{k}': v for k, v in aux.state_dict().items()}
    path = str(tmp_path / 'run.pth')
    for backbone, words in [
        ("dict(type='VisionTransformer')", "is 'VisionTransformer', not a"),
        ("dict(type=3)", 'is 3, not a WaveTemplate'),
        ("dict(type='WaveTemplate', arch='no-such-arch')", 'does not build'),
        ("dict(type='WaveTemplate', surprise=1)", 'does not build'),
        ("dict(type='WaveTemplate', arch='deit-tiny')", 'does not build'),
        ("dict(type='WaveTemplate', template_width=0)", 'does not build'),
        ("dict(type='WaveTemplate', num_templates=0)", 'does not build'),
        ('[1]', 'the config has no model.backbone dict'),
    ]:
        torch.save(
            dict(
                state_dict=state,
                meta=dict(cfg=f'model = dict(backbone={backbone})')), path)
        with pytest.raises(TemplatesFileError, match=words):
            WaveTemplate.from_checkpoint(path)
