"""ImageNet weights from timm's MnasNet checkpoints (``mnasnet_100``, ``semnasnet_100``), read
with the ``safetensors`` NumPy API (no PyTorch), mapped onto this project's MnasNet layers.

timm names parameters ``<module path>.<weight|bias|running_mean|running_var>``; the Keras layer
of a module is its path with dots as underscores (``blocks.1.0.conv_pw`` -> ``blocks_1_0_conv_pw``,
see :mod:`nets.backbones.mnasnet`). Layouts differ:

* convolution (out, in, kh, kw) -> Keras (kh, kw, in, out);
* depthwise convolution (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1);
* dense (out, in) -> Keras (in, out);
* BatchNorm weight, bias, running mean, running variance -> gamma, beta, moving mean, moving
  variance (both use epsilon 1e-5 here, PyTorch's default).
"""

import collections

import numpy as np

from nets.errors import UserError

_BN_ORDER = ("weight", "bias", "running_mean", "running_var")
_IGNORED = ("num_batches_tracked",)


class ConversionError(UserError, ValueError):
    """A checkpoint that does not fit the model it is converted for."""


def read_safetensors(path):
    """{name: array} of a ``.safetensors`` file."""
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ConversionError(f"{path} is not a readable safetensors file ({exc})") from None


def _module_tensors(state):
    modules = collections.OrderedDict()
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if leaf in _IGNORED:
            continue
        modules.setdefault(module, {})[leaf] = np.asarray(value)
    return modules


def _keras_arrays(layer, tensors, module):
    import keras

    kind = type(layer)
    if isinstance(layer, keras.layers.BatchNormalization):
        missing = [leaf for leaf in _BN_ORDER if leaf not in tensors]
        if missing:
            raise ConversionError(f"{module}: a BatchNorm without {', '.join(missing)}")
        return [tensors[leaf] for leaf in _BN_ORDER]
    kernel = tensors.get("weight")
    if kernel is None:
        raise ConversionError(f"{module}: no weight")
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        arrays = [kernel.transpose(2, 3, 0, 1)]
    elif isinstance(layer, keras.layers.Conv2D):
        arrays = [kernel.transpose(2, 3, 1, 0)]
    elif isinstance(layer, keras.layers.Dense):
        arrays = [kernel.T]
    else:
        raise ConversionError(f"{module}: no rule for a {kind.__name__} layer")
    if "bias" in tensors:
        arrays.append(tensors["bias"])
    return arrays


def convert_timm_state(state, model):
    """Set ``model``'s layers from a timm state dict.

    Returns ``(converted, unused)``: the layer names that received weights and the checkpoint
    modules that have no layer in ``model`` (a detector has no ``conv_head`` or ``classifier``).
    Raises :class:`ConversionError` when a module's arrays do not fit its layer.
    """
    converted, unused = [], []
    for module, tensors in _module_tensors(state).items():
        name = module.replace(".", "_")
        try:
            layer = model.get_layer(name)
        except ValueError:
            unused.append(module)
            continue
        arrays = _keras_arrays(layer, tensors, module)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise ConversionError(
                f"{module}: checkpoint shapes {got} do not fit layer {name} "
                f"{expected} (another width or variant?)"
            )
        layer.set_weights(arrays)
        converted.append(name)
    return converted, unused


def convert_checkpoint(path, backbone, alpha, out_path):
    """Write the backbone layers of ``backbone`` at ``alpha`` from a timm checkpoint to an
    HDF5 file that ``--weights`` loads by name; returns ``(converted, unused)``."""
    import keras

    from nets import get_backbone, save_weights
    from utils.files import atomic_path

    spec = get_backbone(backbone, alpha)
    inputs = keras.Input((None, None, 3))
    features = spec.builder(inputs, float(alpha))
    model = keras.Model(inputs, list(features), name=f"{backbone}_backbone")
    converted, unused = convert_timm_state(read_safetensors(path), model)
    missing = [
        layer.name for layer in model.layers if layer.weights and layer.name not in set(converted)
    ]
    if missing:
        raise ConversionError(
            f"{path} lacks weights for {len(missing)} layers of {backbone} "
            f"alpha {alpha:g}, e.g. {', '.join(missing[:3])}"
        )
    with atomic_path(out_path) as tmp:
        save_weights(model, tmp)
    return converted, unused
