"""Test with mmpretrain's own ``tools/test.py`` and wave_mm registered.

Same command line as mmpretrain (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``...); see ``python tools/test.py -h``.
"""
import os.path as osp
import runpy
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmpretrain  # noqa: E402

import wave_mm  # noqa: E402,F401

if __name__ == '__main__':
    script = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'test.py')
    sys.argv[0] = script
    runpy.run_path(script, run_name='__main__')
