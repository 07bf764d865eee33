"""WaveTemplate's stage-1 architecture options, ``kron_order`` and
``fused_qkv``, from the auxiliary through its templates file to stock ViT
targets of other sizes."""
import copy
import dataclasses

import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from wave_helpers import (TINY_AUX, distill_cfg, save_teacher, teacher_cfg,
                          tiny_classifier_cfg, tiny_vit_cfg)

from wave_mm.models import WaveTarget, WaveTemplate
from wave_mm.templates import (TemplatesFileError, load_templates,
                               save_templates)

OPTIONS = [
    dict(kron_order='ST', fused_qkv=False),
    dict(kron_order='TS', fused_qkv=False),
    dict(kron_order='ST', fused_qkv=True),
    dict(kron_order='TS', fused_qkv=True),
]
IDS = ['ST', 'TS', 'ST-fused', 'TS-fused']
X = torch.randn(2, 3, 16, 16)
# Width 48 from 32-wide blocks: each part built at 64 and cropped.
CROPPED = dict(
    embed_dims=48, num_layers=3, num_heads=3, feedforward_channels=192)


def auxiliary(**options) -> WaveTemplate:
    torch.manual_seed(0)
    aux = WaveTemplate(**{**TINY_AUX, **options})
    aux.init_weights()
    aux.eval()
    return aux


def outputs(module):
    module.eval()
    with torch.no_grad():
        return module(X)[0]


@pytest.mark.parametrize('options', OPTIONS, ids=IDS)
def test_a_stock_vit_loads_the_auxiliary(options):
    aux = auxiliary(**options)
    vit = VisionTransformer(
        **{
            k: v
            for k, v in TINY_AUX.items()
            if k in ('arch', 'img_size', 'patch_size')
        })
    vit.load_state_dict(aux.to_vit_state_dict(), strict=True)
    torch.testing.assert_close(outputs(vit), outputs(aux), atol=1e-5, rtol=0)


@pytest.mark.parametrize('options', OPTIONS, ids=IDS)
def test_the_types_and_bank_of_each_option(options):
    aux = auxiliary(**options)
    bank, fused = aux.bank, options['fused_qkv']
    assert bank.order == options['kron_order']
    assert ('qkv' in bank.specs) == fused and ('q' in bank.specs) != fused
    assert ('qkv_bias' in bank.specs) == fused
    L, K = 4, TINY_AUX['num_templates']
    split = auxiliary(kron_order=options['kron_order'])
    if not fused:
        return
    # Width 64 from 32-wide blocks, 2 x 2 per part.
    if options['kron_order'] == 'ST':
        assert bank.templates['qkv'].shape == (K, 32, 32)
        assert bank.scalers.shape('qkv') == (L, K, 6, 2)
        assert bank.scalers.shape('qkv_bias') == (L, K, 6)
        assert bank.num_scalers() == split.bank.num_scalers()
    else:
        assert bank.templates['qkv'].shape == (K, 96, 32)
        assert bank.scalers.shape('qkv') == (L, K, 2, 2)
        assert bank.templates['qkv_bias'].shape == (K, 96)
        # q, k and v share their scalers: a third of them.
        saved = L * K * (3 * 4 - 4) + L * K * (3 * 2 - 2)
        assert bank.num_scalers() == split.bank.num_scalers() - saved
    composed = bank()
    assert composed['qkv'].shape == (L, 192, 64)
    assert composed['qkv_bias'].shape == (L, 192)


@pytest.mark.parametrize('options', OPTIONS, ids=IDS)
def test_templates_file_round_trip_reproduces_the_auxiliary(options, tmp_path):
    aux = auxiliary(**options)
    path = str(tmp_path / 'templates.safetensors')
    aux.export_templates(path)
    data = load_templates(path)
    assert data.kron_order == options['kron_order']
    assert ('qkv' in data.specs) == options['fused_qkv']
    vit = MODELS.build(
        tiny_vit_cfg(init_cfg=dict(type='WaveInit', templates=path)))
    vit.init_weights()
    state, own = vit.state_dict(), aux.to_vit_state_dict()
    for name, value in own.items():
        assert torch.equal(state[name], value), name
    torch.testing.assert_close(outputs(vit), outputs(aux), atol=1e-5, rtol=0)


def split_qkv(data, order):
    """The templates of a fused-qkv file as q, k and v apart: same weights
    for every target, each part composed and cropped on its own."""
    data = copy.copy(data)
    specs, templates, scalers = (dict(data.specs), dict(data.templates),
                                 dict(data.scalers))
    for fused, parts in (('qkv', 'q k v'), ('qkv_bias',
                                            'q_bias k_bias v_bias')):
        spec, t, s = specs.pop(fused), templates.pop(fused), scalers.pop(fused)
        for c, name in enumerate(parts.split()):
            if order == 'ST':
                rows = s.shape[2] // 3
                templates[name] = t
                scalers[name] = s[:, :, c * rows:(c + 1) * rows]
                specs[name] = spec
            else:
                rows = t.shape[1] // 3
                templates[name] = t[:, c * rows:(c + 1) * rows]
                scalers[name] = s
                specs[name] = dataclasses.replace(
                    spec, block=(rows, *spec.block[1:]))
    data.specs, data.templates, data.scalers = specs, templates, scalers
    return data


@pytest.mark.parametrize('order', ['ST', 'TS'])
@pytest.mark.parametrize('rule', ['scaled', 'crop', 'mean'])
@pytest.mark.parametrize(
    'arch', [CROPPED, dict(CROPPED, embed_dims=96, num_layers=6)],
    ids=['48-wide', '96-wide'])
def test_fused_qkv_is_cropped_and_resampled_part_by_part(
        order, rule, arch, tmp_path):
    aux = auxiliary(kron_order=order, fused_qkv=True)
    data = aux.templates_data()
    vit = MODELS.build(tiny_vit_cfg(arch))
    fused = WaveTarget(vit, data, width_rule=rule).state_dict_for_vit()
    apart = WaveTarget(
        vit, split_qkv(data, order), width_rule=rule).state_dict_for_vit()
    assert fused['layers.0.attn.qkv.weight'].shape == (3 * arch['embed_dims'],
                                                       arch['embed_dims'])
    assert set(fused) == set(apart)
    for name, value in fused.items():
        torch.testing.assert_close(value, apart[name], rtol=0, atol=1e-6)
    # Into the target through WaveInit, from a file.
    path = str(tmp_path / 'fused.safetensors')
    save_templates(path, data)
    vit.init_cfg = dict(type='WaveInit', templates=path, width_rule=rule)
    vit.init_weights()
    for name, value in vit.state_dict().items():
        if name in fused:
            assert torch.equal(value, fused[name]), name


def test_the_orders_are_different_families_across_widths():
    st, ts = (auxiliary(kron_order=o).templates_data() for o in ('ST', 'TS'))
    ts.templates, ts.scalers = st.templates, st.scalers
    vit = MODELS.build(tiny_vit_cfg(CROPPED))
    a = WaveTarget(vit, st).state_dict_for_vit()
    b = WaveTarget(vit, ts).state_dict_for_vit()
    assert not torch.equal(a['layers.0.ffn.layers.0.0.weight'],
                           b['layers.0.ffn.layers.0.0.weight'])


@pytest.fixture
def teacher_ckpt(tmp_path):
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, teacher_cfg())
    return path


@pytest.mark.parametrize('options', OPTIONS[1:], ids=IDS[1:])
def test_stage_1_with_nested_widths_trains_a_step(options, teacher_ckpt,
                                                  tmp_path):
    cfg = distill_cfg(teacher_ckpt, nested_widths=[32], nested_min_layers=1)
    cfg['backbone'].update(options)
    model = MODELS.build(cfg)
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    losses = model.loss(torch.randn(4, 3, 16, 16), samples)
    assert {'loss_kd_narrow', 'loss_kd_nested'} <= set(losses)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    bank = model.backbone.bank
    name = 'qkv' if options['fused_qkv'] else 'q'
    assert bank.templates[name].grad.abs().sum() > 0
    # The narrow view is the data-free narrow target of the templates file.
    model.eval()
    path = str(tmp_path / 'student.safetensors')
    model.backbone.export_templates(path, head=model.head.state_dict())
    target = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(
                dict(
                    TINY_AUX['arch'],
                    embed_dims=32,
                    num_heads=1,
                    feedforward_channels=128)),
            init_cfg=dict(type='WaveInit', templates=path, head=True)))
    target.init_weights()
    target.eval()
    with torch.no_grad():
        ours = model.narrow_views[0].scores(model.backbone, model.head, X)
        theirs = target.head(target.extract_feat(X))
    torch.testing.assert_close(ours, theirs)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="kron_order must be one of"):
        WaveTemplate(**{**TINY_AUX, 'kron_order': 'ts'})
    with pytest.raises(ValueError, match='fused_qkv must be True or False'):
        WaveTemplate(**{**TINY_AUX, 'fused_qkv': 'yes'})


def test_a_mix_of_fused_and_split_types_is_refused(tmp_path):
    data = auxiliary(fused_qkv=True).templates_data()
    other = auxiliary().templates_data()
    data.specs['q'] = other.specs['q']
    data.templates['q'], data.scalers['q'] = (other.templates['q'],
                                              other.scalers['q'])
    with pytest.raises(TemplatesFileError, match="both 'qkv' and"):
        save_templates(str(tmp_path / 'mixed.safetensors'), data)
    vit = MODELS.build(tiny_vit_cfg())
    with pytest.raises(ValueError, match='not both'):
        WaveTarget(vit, data)
