"""``ViTSize``: the depth, width and heads of a ViT classifier, and the
config overrides that give a config's classifier that size.

The quickstart (``tools/quickstart.py``) and the init benchmark
(``benchmarks/init_quality``) size every ViT they train, and the teacher of
their distillations, through :meth:`ViTSize.options`. Scripts in ``tools/``
import it by name; others put ``tools/`` on ``sys.path`` first.
"""
from dataclasses import dataclass
from typing import Dict, List


@dataclass(frozen=True)
class ViTSize:
    """A ViT of ``layers x width`` with ``heads`` (FFN 4x width).

    Args:
        layers: Depth.
        width: Embedding width; the head's input width too.
        heads: Attention heads.
    """
    layers: int
    width: int
    heads: int

    @property
    def name(self) -> str:
        return f'{self.layers}x{self.width}'

    def options(self, model: str = 'model') -> Dict[str, int]:
        """Overrides (``--cfg-options`` keys) that size the classifier at
        ``model``, e.g. ``'model.teacher.model'`` for a teacher: its
        backbone's arch and its head's input width."""
        return {
            f'{model}.backbone.arch.num_layers': self.layers,
            f'{model}.backbone.arch.embed_dims': self.width,
            f'{model}.backbone.arch.num_heads': self.heads,
            f'{model}.backbone.arch.feedforward_channels': 4 * self.width,
            f'{model}.head.in_channels': self.width,
        }

    def cfg_options(self, model: str = 'model') -> List[str]:
        """:meth:`options` as ``key=value`` words for ``--cfg-options``."""
        return [f'{k}={v}' for k, v in self.options(model).items()]
