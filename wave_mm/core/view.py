"""``KroneckerView``: a ViT whose templated tensors come from a bank.

The one mechanism by which wave_mm runs a ViT from templates: the
auxiliary's own forward (``WaveTemplate``), the nested-width crops of stage 1
(``NarrowView``) and the scaler fit of stage 2 (``fit_scalers``). A view
knows which tensors of one ViT are templated (its :class:`ViTLayout`),
composes them from a :class:`TemplateBank` (optionally with other templates
or scalers in place of the bank's own, gradients flowing to those), and runs
a module with them in place of its own tensors (``torch.func``'s
re-parametrisation: the module is not modified).
"""
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Type

from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.stateless import _reparametrize_module

from wave_mm.kronecker import DEFAULT_ORDER, KronOrder
from wave_mm.templates import TemplateSpec, ViTArch
from .bank import TemplateBank
from .layout import ViTLayout
from .weight_types import ALL_GROUPS


class KroneckerView:
    """The templated tensors of one ViT as a function of a bank.

    Args:
        vit: The ``VisionTransformer`` whose tensors are meant.
        groups: Parameter groups to template.
        available: Weight types there are templates for (see
            :class:`ViTLayout`).
        source: The arch the templates were made for (see
            :class:`ViTLayout`).
    """

    def __init__(self,
                 vit: nn.Module,
                 groups: Sequence[str] = ALL_GROUPS,
                 available: Optional[Sequence[str]] = None,
                 source: Optional[ViTArch] = None) -> None:
        self.layout = ViTLayout(vit, groups, available, source)

    def compose(
            self,
            bank: TemplateBank,
            templates: Optional[Mapping[str, Tensor]] = None,
            scalers: Optional[Mapping[str,
                                      Tensor]] = None) -> Dict[str, Tensor]:
        """The templated tensors by backbone state-dict name.

        Args:
            bank: Gives the shapes and, unless replaced, the tensors.
            templates: ``{type: [N_t, *block]}`` used instead of the bank's.
            scalers: ``{type: [L_t, N_t, *grid]}`` used instead of the
                bank's (e.g. data-free scalers of a narrower view).
        """
        return self.layout.to_state_dict(bank(templates, scalers))

    def strip(self, vit: nn.Module) -> None:
        """Delete ``vit``'s own templated parameters: they exist only as
        composed tensors, placed by :meth:`placed` or :meth:`run`."""
        for name in self.layout.param_names():
            module_name, _, attr = name.rpartition('.')
            delattr(vit.get_submodule(module_name), attr)

    @contextmanager
    def placed(self, vit: nn.Module,
               tensors: Mapping[str, Tensor]) -> Iterator[None]:
        """``vit`` with ``tensors`` in place of (or where it lacks) its own,
        for calls other than its ``forward`` (``functional_call`` is this
        around ``forward``)."""
        with _reparametrize_module(vit, dict(tensors), strict=False):
            yield

    def run(self,
            module: nn.Module,
            tensors: Mapping[str, Tensor],
            args: tuple,
            kwargs: Optional[Dict[str, Any]] = None,
            prefix: str = '') -> Any:
        """``module(*args, **kwargs)`` with the composed ``tensors`` (named
        relative to the ViT, which sits at ``prefix`` in ``module``)."""
        named = {prefix + k: v for k, v in tensors.items()}
        return functional_call(module, named, args, kwargs or {}, strict=False)

    def bank(self,
             specs: Mapping[str, TemplateSpec],
             kind: Type[TemplateBank] = TemplateBank,
             order: KronOrder = DEFAULT_ORDER) -> TemplateBank:
        """A bank (of class ``kind``, Kronecker ``order``) of ``specs`` for
        this view's types, shaped for its ViT: templates ``[N_t, *block]``,
        scalers ``[L_t, N_t, *grid]``."""
        layout = self.layout
        return kind({t: specs[t]
                     for t in layout.types},
                    {t: layout.shape(t, specs[t].block)
                     for t in layout.types},
                    {t: layout.depth(t)
                     for t in layout.types},
                    order=order)
