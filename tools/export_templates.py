"""Write the templates file of a stage-1 (distillation) checkpoint.

    python tools/export_templates.py work_dirs/distill_deit-b/epoch_150.pth \
        --out templates.safetensors [--config CONFIG] [--ancestry TEXT]
    python tools/export_templates.py OLD.safetensors --out NEW.safetensors

The checkpoint is loaded with ``weights_only`` and its stored config is read
as literals, never run (``--config`` names a trusted config file instead).
The classifier head is stored with the templates (``head.*`` extras), as the
``TemplateExportHook`` does. Given a templates file, it re-saves it in the
current format.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wave_mm.fileio import check_not_input  # noqa: E402
from wave_mm.models import WaveTemplate, read_auxiliary  # noqa: E402
from wave_mm.templates import load_templates, save_templates  # noqa: E402


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='checkpoint or templates file')
    parser.add_argument('--out', required=True)
    parser.add_argument('--config', help='default: the checkpoint\'s own')
    parser.add_argument('--ancestry', help='override the stored text')
    args = parser.parse_args(argv)
    check_not_input(args.out, [args.checkpoint])
    if args.checkpoint.endswith('.safetensors'):
        data = load_templates(args.checkpoint)
        if args.ancestry is not None:
            data.ancestry = args.ancestry
        digest = save_templates(args.out, data, [args.checkpoint])
    else:
        model, head = read_auxiliary(args.checkpoint, WaveTemplate,
                                     args.config)
        digest = model.export_templates(
            args.out, args.ancestry, head or None, inputs=[args.checkpoint])
    print(f'wrote {args.out} ({digest})')


if __name__ == '__main__':
    main()
