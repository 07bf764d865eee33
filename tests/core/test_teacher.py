"""The teacher: built from a config, loaded safely and strictly, frozen."""
import pytest
import torch
from wave_helpers import TEACHER_ARCH, save_teacher, teacher_cfg

from wave_mm.core import build_teacher


def test_built_loaded_and_frozen(tmp_path):
    path = str(tmp_path / 'teacher.pth')
    state = save_teacher(path, teacher_cfg())
    teacher = build_teacher(dict(model=teacher_cfg(), checkpoint=path))
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_errors_name_the_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build_teacher(
            dict(model=teacher_cfg(), checkpoint=str(tmp_path / 'nope.pth')))
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, teacher_cfg())
    other = teacher_cfg(arch=dict(TEACHER_ARCH, num_layers=1))
    with pytest.raises(ValueError, match='teacher.pth does not fit'):
        build_teacher(dict(model=other, checkpoint=path))
    with pytest.raises(ValueError, match="needs 'model'"):
        build_teacher(dict(checkpoint=path))
