"""The import rules of the package docstring, checked on the sources:
stages -> core -> files -> maths, stage 1 and stage 2 never import each
other, the baselines import only the core."""
import ast
import os.path as osp
from pathlib import Path

import pytest

import wave_mm

PACKAGE = Path(osp.dirname(wave_mm.__file__))
# Module (or package) prefix -> layer; the longest prefix wins.
LAYERS = {
    'wave_mm.kronecker': 'maths',
    'wave_mm.kernels': 'maths',
    'wave_mm.fileio': 'files',
    'wave_mm.templates': 'files',
    'wave_mm.core': 'core',
    'wave_mm.models.backbones': 'stage 1',
    'wave_mm.models.classifiers': 'stage 1',
    'wave_mm.models.heads': 'stage 1',
    'wave_mm.engine.hooks.template_export_hook': 'stage 1',
    'wave_mm.models.initializers.wave_init': 'stage 2',
    'wave_mm.models.initializers.wave_target': 'stage 2',
    'wave_mm.models.initializers.scaler_fit': 'stage 2',
    'wave_mm.models.initializers.scaler_holdout': 'stage 2',
    'wave_mm.engine.hooks.scaler_init_hook': 'stage 2',
    'wave_mm.models.initializers.weight_selection': 'baselines',
    'wave_mm.models.initializers.tleg_init': 'baselines',
    'wave_mm.models.initializers.mimetic_init': 'baselines',
    'wave_mm.models.initializers.front_init': 'baselines',
    'wave_mm.models.initializers.dct': 'maths',
    'wave_mm.datasets': 'datasets',
    'wave_mm.version': 'maths',
}
# What each layer may import; packages that only re-export (wave_mm,
# wave_mm.models, wave_mm.engine...) are imported by none of them.
ALLOWED = {
    'maths': {'maths'},
    'files': {'files', 'maths'},
    'core': {'core', 'files', 'maths'},
    'stage 1': {'stage 1', 'core', 'files', 'maths'},
    'stage 2': {'stage 2', 'core', 'files', 'maths'},
    'baselines': {'core', 'files', 'maths'},
    'datasets': {'datasets', 'files'},
}


def layer(module: str):
    matches = [p for p in LAYERS if module == p or module.startswith(p + '.')]
    return LAYERS[max(matches, key=len)] if matches else None


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imports(path: Path):
    """The wave_mm modules ``path`` imports, absolute."""
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')
                anchor = anchor[:len(anchor) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            # ``from pkg import module`` imports the module (or package).
            for alias in node.names:
                full = f'{base}.{alias.name}'
                path = PACKAGE.parent / full.replace('.', '/')
                is_module = (
                    path.with_suffix('.py').exists()
                    or (path / '__init__.py').exists())
                yield full if layer(full) and is_module else base


SOURCES = sorted(PACKAGE.rglob('*.py'))


def test_every_module_has_a_layer_or_only_re_exports():
    for path in SOURCES:
        name = module_name(path)
        assert layer(name) or path.name == '__init__.py', name


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: module_name(p))
def test_imports_go_one_way(path):
    own = layer(module_name(path))
    if own is None:
        return  # a package that registers or re-exports
    for target in imports(path):
        if not target.startswith('wave_mm'):
            continue
        theirs = layer(target)
        assert theirs in ALLOWED[own], (
            f'{module_name(path)} ({own}) imports {target} '
            f'({theirs or "a re-exporting package"})')


def test_the_rules_catch_a_violation():
    assert layer('wave_mm.models.initializers.wave_init') == 'stage 2'
    assert 'stage 1' not in ALLOWED['stage 2']
    assert 'stage 2' not in ALLOWED['stage 1']
    assert ALLOWED['baselines'] == {'core', 'files', 'maths'}
    assert layer('wave_mm.models') is None  # re-exports: importable by none
