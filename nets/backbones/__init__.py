"""Backbone registry: every fact about a backbone, and its builder, under one name.

A builder has the signature ``builder(inputs, alpha) -> (feat8, feat16, feat32)`` and works on
Keras tensors, so the neck never needs to know which backbone fed it (a ``features_only``
contract). A registration also states the widths the backbone supports, the published VOC
weights file of each width and how many weighted layers the whole detector has with it; the
command-line choices, the weights hub, weight-file diagnostics and the tests all read them here.

Builders are named as ``"module:function"`` and imported on first use, so reading the registry
(for ``--help``, say) does not import Keras. A new backbone is one file with its builder plus one
``register_backbone`` call below (or a call from user code, which may pass the function itself).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, TypeVar, overload

from nets.errors import UnknownBackboneError

if TYPE_CHECKING:
    from keras import KerasTensor

# What a builder returns: the stride 8, 16 and 32 feature maps.
BackboneFeatures: TypeAlias = "tuple[KerasTensor, KerasTensor, KerasTensor]"
# builder(inputs, alpha) -> (feat8, feat16, feat32)
BackboneBuilder: TypeAlias = Callable[["KerasTensor", float], BackboneFeatures]
_BuilderT = TypeVar("_BuilderT", bound="str | BackboneBuilder")


@dataclass(frozen=True)
class BackboneSpec:
    """What the project knows about one backbone."""

    name: str
    builder_ref: str | BackboneBuilder  # "module:function", or the function itself
    alphas: tuple[float, ...]  # supported width multipliers
    pretrained: dict[float, str] = field(default_factory=dict)  # alpha -> published VOC file
    weight_layers: int = 0  # weighted layers of the detector built on it
    description: str = ""

    @property
    def builder(self) -> BackboneBuilder:
        """The builder function (imports its module on first use)."""
        if callable(self.builder_ref):
            return self.builder_ref
        module, function = self.builder_ref.split(":")
        return getattr(importlib.import_module(module), function)

    def pretrained_file(self, alpha: float) -> str | None:
        """File name of the published VOC weights for ``alpha``, or None."""
        return self.pretrained.get(round(float(alpha), 4))


_REGISTRY: dict[str, BackboneSpec] = {}


@overload
def register_backbone(
    name: str,
    builder: None = None,
    *,
    alphas: Iterable[float],
    pretrained: Mapping[float, str] | None = None,
    weight_layers: int = 0,
    description: str = "",
) -> Callable[[_BuilderT], _BuilderT]: ...


@overload
def register_backbone(
    name: str,
    builder: _BuilderT,
    *,
    alphas: Iterable[float],
    pretrained: Mapping[float, str] | None = None,
    weight_layers: int = 0,
    description: str = "",
) -> _BuilderT: ...


def register_backbone(
    name: str,
    builder: str | BackboneBuilder | None = None,
    *,
    alphas: Iterable[float],
    pretrained: Mapping[float, str] | None = None,
    weight_layers: int = 0,
    description: str = "",
) -> str | BackboneBuilder | Callable[[_BuilderT], _BuilderT]:
    """Register a backbone. ``builder`` is ``"module:function"`` or a function; without it, the
    call returns a decorator for the function."""

    def add(function_or_ref: _BuilderT) -> _BuilderT:
        _REGISTRY[name] = BackboneSpec(
            name,
            function_or_ref,
            tuple(float(a) for a in alphas),
            {round(float(a), 4): file for a, file in (pretrained or {}).items()},
            int(weight_layers),
            description,
        )
        return function_or_ref

    return add if builder is None else add(builder)


def available_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(_REGISTRY)


def backbone_specs() -> list[BackboneSpec]:
    """All registered specs, sorted by name."""
    return [_REGISTRY[name] for name in available_backbones()]


def get_backbone(name: str, alpha: float | None = None) -> BackboneSpec:
    """The spec of a registered backbone (checking ``alpha`` when given).

    Raises ``UnknownBackboneError`` (a ``ValueError``) naming what is supported.
    """
    spec = _REGISTRY.get(name)
    if spec is None:
        raise UnknownBackboneError(f"unknown backbone {name!r}; supported: {describe_choices()}")
    if alpha is not None and float(alpha) not in spec.alphas:
        raise UnknownBackboneError(
            f"backbone {name!r} does not support alpha={alpha:g}; "
            f"supported alphas: {_fmt(spec.alphas)}"
        )
    return spec


def describe_choices() -> str:
    """'ghostnet (alpha 1), mobilenetv1 (alpha 0.25 / 0.5 / ...), ...' for help and errors."""
    return ", ".join(f"{s.name} (alpha {_fmt(s.alphas)})" for s in backbone_specs())


def backbone_for_layer_count(count: int) -> str | None:
    """Name(s) of the backbone(s) whose detector has ``count`` weighted layers ("a or b" when
    several have as many), or None."""
    names = [s.name for s in backbone_specs() if s.weight_layers == count]
    # Files of the original implementation are the likeliest: its backbones come first.
    names.sort(key=lambda name: not _REGISTRY[name].pretrained)
    return " or ".join(names) or None


def _fmt(alphas: Iterable[float]) -> str:
    return " / ".join(f"{a:g}" for a in alphas)


register_backbone(
    "mobilenetv1",
    "nets.backbones.mobilenetv1:mobilenetv1",
    alphas=(0.25, 0.5, 0.75, 1.0),
    pretrained={0.25: "yolov4_mobilenet_v1_025_voc.h5", 1.0: "yolov4_mobilenet_v1_voc.h5"},
    weight_layers=157,
    description="MobileNetV1, ReLU6, Keras Applications names",
)
register_backbone(
    "mobilenetv2",
    "nets.backbones.mobilenetv2:mobilenetv2",
    alphas=(0.5, 0.75, 1.0, 1.3),
    pretrained={1.0: "yolov4_mobilenet_v2_voc.h5"},
    weight_layers=205,
    description="MobileNetV2, ReLU6, Keras Applications names",
)
register_backbone(
    "mobilenetv3",
    "nets.backbones.mobilenetv3:mobilenetv3",
    alphas=(0.75, 1.0),
    pretrained={1.0: "yolov4_mobilenet_v3_voc.h5"},
    weight_layers=209,
    description="MobileNetV3-Large, hard-swish relu6(x+3)/6, squeeze-excite",
)
register_backbone(
    "ghostnet",
    "nets.backbones.ghostnet:ghostnet",
    alphas=(1.0,),
    pretrained={1.0: "yolov4_ghostnet_voc.h5"},
    weight_layers=275,
    description="GhostNet 1.0, ReLU, SE with legacy hard-sigmoid",
)
register_backbone(
    "densenet121",
    "nets.backbones.densenet:densenet121",
    alphas=(1.0,),
    pretrained={1.0: "yolov4_densenet121_voc.h5"},
    weight_layers=344,
    description="DenseNet-121, Keras Applications names",
)
register_backbone(
    "squeezenet",
    "nets.backbones.squeezenet:squeezenet",
    alphas=(1.0,),
    weight_layers=128,
    description="SqueezeNet 1.1, fire modules, ReLU (ImageNet weights load "
    "by name; no VOC weights)",
)
register_backbone(
    "shufflenetv2",
    "nets.backbones.shufflenetv2:shufflenetv2",
    alphas=(0.5, 1.0, 1.5, 2.0),
    weight_layers=213,
    description="ShuffleNetV2, channel split and shuffle (no ImageNet or VOC "
    "weights: trains from random initialisation)",
)
register_backbone(
    "mnasnet_b1",
    "nets.backbones.mnasnet:mnasnet_b1",
    alphas=(0.5, 0.75, 1.0, 1.3),
    weight_layers=205,
    description="MnasNet-B1 (no squeeze-excite), timm parameter names "
    "(ImageNet weights through convert_weights.py)",
)
register_backbone(
    "mnasnet_a1",
    "nets.backbones.mnasnet:mnasnet_a1",
    alphas=(1.0,),
    weight_layers=215,
    description="MnasNet-A1 with squeeze-excite, timm parameter names "
    "(ImageNet weights through convert_weights.py)",
)
register_backbone(
    "shufflenetv1",
    "nets.backbones.shufflenetv1:shufflenetv1",
    alphas=(0.5, 1.0, 1.5, 2.0),
    weight_layers=263,
    description="ShuffleNetV1 with 3 groups (no ImageNet or VOC weights: "
    "trains from random initialisation)",
)
