"""Backbone registry: name -> builder returning the stride 8, 16 and 32 feature maps.

A builder has the signature ``builder(inputs, alpha) -> (feat8, feat16, feat32)`` and works on
Keras tensors, so the neck never needs to know which backbone fed it (timm's ``features_only``
contract). Register new backbones with ``@register_backbone(name, alphas=...)``.
"""
from dataclasses import dataclass
from typing import Callable, Tuple


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    builder: Callable
    alphas: Tuple[float, ...]
    description: str = ""


_REGISTRY = {}


def register_backbone(name, alphas, description=""):
    def wrap(builder):
        _REGISTRY[name] = BackboneSpec(name, builder, tuple(float(a) for a in alphas), description)
        return builder
    return wrap


def available_backbones():
    """Registered backbone names, sorted."""
    return sorted(_REGISTRY)


def get_backbone(name, alpha=1.0):
    """The spec of a registered backbone; raises ValueError naming what is supported."""
    spec = _REGISTRY.get(name)
    if spec is None:
        supported = ", ".join(f"{n} (alpha {_fmt(s.alphas)})" for n, s in sorted(_REGISTRY.items()))
        raise ValueError(f"unknown backbone {name!r}; supported: {supported}")
    if float(alpha) not in spec.alphas:
        raise ValueError(f"backbone {name!r} does not support alpha={alpha}; "
                         f"supported alphas: {_fmt(spec.alphas)}")
    return spec


def _fmt(alphas):
    return " / ".join(f"{a:g}" for a in alphas)


# Importing the modules registers them.
from nets.backbones import densenet, ghostnet, mobilenetv1, mobilenetv2, mobilenetv3  # noqa: E402,F401,I001
