"""No checkpoint runs code: hostile pickles against every loader."""
import os
import runpy
import sys

import pytest
import torch
from hostile import payloads, save_pickle
from mmengine.runner.checkpoint import _load_checkpoint
from mmpretrain.registry import MODELS
from wave_helpers import save_teacher, teacher_cfg, tiny_vit_cfg

from wave_mm.core import load_teacher_checkpoint
from wave_mm.fileio import (TemplatesFileError, load_checkpoint, meta_of,
                            save_checkpoint, state_dict_of)
from wave_mm.models import WaveTemplate
from wave_mm.templates import load_scalers, load_templates

TOOLS = os.path.join(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'tools')
ROUTES = sorted(payloads('m'))


def run_tool(name, *args):
    argv = sys.argv
    sys.argv = [name, *map(str, args)]
    try:
        runpy.run_path(os.path.join(TOOLS, name), run_name='__main__')
    finally:
        sys.argv = argv


def _pretrained(path):
    vit = MODELS.build(
        tiny_vit_cfg(init_cfg=dict(type='Pretrained', checkpoint=path)))
    vit.init_weights()


def _weight_selection(path):
    vit = MODELS.build(
        tiny_vit_cfg(
            init_cfg=dict(type='WeightSelectionInit', checkpoint=path)))
    vit.init_weights()


def _front_init(path):
    vit = MODELS.build(
        tiny_vit_cfg(init_cfg=dict(type='FRONTInit', checkpoint=path)))
    vit.init_weights()


def _wave_init(path):
    vit = MODELS.build(
        tiny_vit_cfg(init_cfg=dict(type='WaveInit', templates=path)))
    vit.init_weights()


LOADERS = {
    'load_checkpoint':
    load_checkpoint,
    'mmengine _load_checkpoint':
    _load_checkpoint,
    'init_cfg Pretrained':
    _pretrained,
    'teacher':
    lambda p: load_teacher_checkpoint(MODELS.build(teacher_cfg()), p),
    'WaveTemplate.from_checkpoint':
    WaveTemplate.from_checkpoint,
    'WeightSelectionInit':
    _weight_selection,
    'FRONTInit':
    _front_init,
    'export_templates.py':
    lambda p: run_tool('export_templates.py', p, '--out', p +
                       '.out.safetensors'),
    'strip_teacher.py':
    lambda p: run_tool('strip_teacher.py', p, '--out', p + '.out.pth'),
    'load_templates':
    load_templates,
    'load_scalers':
    load_scalers,
    'WaveInit':
    _wave_init,
}


def test_payloads_are_real(tmp_path):
    """Each payload does run under an unsafe load, so the refusals below
    are refusals of working exploits."""
    for i, (name, payload) in enumerate(sorted(payloads('m').items())):
        marker = tmp_path / f'marker{i}'
        path = save_pickle(
            str(tmp_path / 'evil.pth'),
            payloads(str(marker))[name])
        torch.load(path, weights_only=False)
        assert marker.exists(), name


@pytest.mark.parametrize('loader', sorted(LOADERS))
@pytest.mark.parametrize('route', ROUTES)
def test_no_loader_runs_a_hostile_pickle(loader, route, tmp_path, monkeypatch):
    # Even with the switch that turns torch's default check off.
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'marker'
    path = save_pickle(
        str(tmp_path / 'evil.pth'),
        payloads(str(marker))[route])
    with pytest.raises(TemplatesFileError) as err:
        LOADERS[loader](path)
    assert not marker.exists()
    assert path in str(err.value)
    assert 'weights_only=False' not in str(err.value)


def test_runner_load_from_and_resume_refuse(tmp_path):
    from mmengine.runner import Runner
    from wave_helpers import tiny_classifier_cfg, tiny_runner_cfg
    marker = tmp_path / 'marker'
    path = save_pickle(
        str(tmp_path / 'evil.pth'),
        payloads(str(marker))['exec, in message_hub'])
    for resume in (False, True):
        cfg = tiny_runner_cfg(
            tiny_classifier_cfg(tiny_vit_cfg()), str(tmp_path / 'work'))
        cfg.pop('custom_imports', None)
        runner = Runner(**cfg, load_from=path, resume=resume)
        with pytest.raises(TemplatesFileError, match='evil.pth: refused'):
            runner.load_or_resume()
        assert not marker.exists()


def test_mmengine_checkpoints_still_load(tmp_path):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('hostile-test')
    hub.update_scalar('train/loss', 1.5)
    path = str(tmp_path / 'ok.pth')
    save_checkpoint(
        path,
        dict(
            meta=dict(iter=3),
            state_dict={'w': torch.ones(2)},
            message_hub=hub.state_dict()))
    ckpt = load_checkpoint(path)
    assert ckpt['meta']['iter'] == 3
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert buffer.mean() == 1.5
    assert state_dict_of(ckpt, path).keys() == {'w'}


@pytest.mark.parametrize(
    'content',
    [b'', b'garbage bytes', b'PK\x03\x04truncated zip', b'\x80\x02}q\x00(X'])
def test_corrupt_checkpoints_name_the_file(content, tmp_path):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(
            TemplatesFileError,
            match='bad.pth: (not a readable PyTorch checkpoint|refused)'
    ) as err:
        load_checkpoint(str(path))
    assert str(path) in str(err.value)
    assert 'weights_only' not in str(err.value)


def test_truncated_checkpoint(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint(path, {'state_dict': {'w': torch.randn(1000)}})
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(TemplatesFileError, match='ckpt.pth: not a readable'):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(TemplatesFileError, match='not found.*nope.pth'):
        load_checkpoint(str(tmp_path / 'nope.pth'))


@pytest.mark.parametrize('checkpoint,match', [
    ([1, 2], 'must be a dict, got list'),
    ({
        'state_dict': [1]
    }, r"\['state_dict'\] must be a dict of tensors"),
    ({
        'state_dict': {
            'w': 3
        }
    }, r"\['state_dict'\]\['w'\] is a int"),
    ({
        'w': torch.ones(1),
        'x': 'text'
    }, r"\['x'\] is a str.*no 'state_dict'"),
    ({
        'state_dict': {
            1: torch.ones(1)
        }
    }, 'key 1 is not a string'),
])
def test_state_dict_validation(checkpoint, match, tmp_path):
    with pytest.raises(TemplatesFileError, match=match):
        state_dict_of(checkpoint, 'c.pth')


def test_meta_validation():
    assert meta_of({}, 'c.pth') == {}
    with pytest.raises(TemplatesFileError, match=r"c.pth: \['meta'\] must"):
        meta_of({'meta': 'text'}, 'c.pth')


def test_malformed_checkpoints_to_the_tools(tmp_path):
    path = save_pickle(str(tmp_path / 'list.pth'), [torch.ones(1)])
    for tool in ('export_templates.py', 'strip_teacher.py'):
        with pytest.raises(TemplatesFileError, match='list.pth: a checkpoint'):
            run_tool(tool, path, '--out', str(tmp_path / 'out'))
    teacher = str(tmp_path / 'teacher.pth')
    save_teacher(teacher, teacher_cfg())
    with pytest.raises(TemplatesFileError, match='teacher.pth stores no'):
        WaveTemplate.from_checkpoint(teacher)


def test_numpy_state_that_would_corrupt_memory_is_refused(tmp_path):
    """An object-field dtype with reference-counting flags set would make
    numpy free attacker-chosen pointers: the numpy stand-ins refuse it."""
    import numpy as np
    from hostile import Reduce
    from numpy._core.multiarray import _reconstruct
    state = list(np.dtype([('a', 'O')]).__reduce__()[2])
    state[-1] = 25
    for dtype in (Reduce(
            np.dtype,
            'V8',
            False,
            True,
    ), Reduce(np.dtype, 'f8', False, True)):
        array = Reduce(_reconstruct, np.ndarray, (0, ), b'b')
        path = str(tmp_path / 'numpy.pth')
        torch.save({'meta': {'x': (array, dtype, tuple(state))}}, path)
        with pytest.raises(TemplatesFileError, match='numpy.pth: refused'):
            load_checkpoint(path)


def test_numpy_values_round_trip_twice(tmp_path):
    import numpy as np
    values = dict(
        seed=np.int64(3),
        f=np.float32(2.5),
        big_endian=np.arange(4, dtype='>i4'),
        history=np.array([1.5, 2.5]))
    path = str(tmp_path / 'a.pth')
    save_checkpoint(path, {'meta': values})
    again = str(tmp_path / 'b.pth')
    save_checkpoint(again, load_checkpoint(path))
    loaded = load_checkpoint(again)['meta']
    for key, value in values.items():
        assert np.array_equal(loaded[key], value), key
        # numpy may swap a foreign byte order to the native one.
        assert loaded[key].dtype.str[1:] == value.dtype.str[1:], key


def test_stored_configs_cannot_name_a_function(tmp_path, monkeypatch):
    """MMEngine's registry imports and calls a dotted ``type`` it does not
    know: a stored config may only name registered model classes."""
    monkeypatch.chdir(tmp_path)
    for kind in ('os.system', 'subprocess.getoutput', 'eval', 'print'):
        cfg = ("model = dict(backbone=dict(type='WaveTemplate', "
               'layer_cfgs=dict(act_cfg=dict(type=%r, command="touch M", '
               'cmd="touch M"))))' % kind)
        path = str(tmp_path / 'run.pth')
        torch.save({'state_dict': {}, 'meta': {'cfg': cfg}}, path)
        with pytest.raises(TemplatesFileError, match='not a registered'):
            WaveTemplate.from_checkpoint(path)
        assert not (tmp_path / 'M').exists()


@pytest.mark.parametrize('path', ['foo://x', 'file:///nope.pth'])
def test_unknown_schemes_are_local_paths(path):
    with pytest.raises(TemplatesFileError, match='not found'):
        load_checkpoint(path)
