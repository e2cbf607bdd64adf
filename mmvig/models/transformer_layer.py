"""SAG-ViT's Transformer layer: mmpretrain's ViT encoder layer (same
arguments, same keys) as a class of mmvig's own, so that timm's FX tracer can
keep it whole (it is registered as a leaf by its class). Importing this module
imports mmpretrain; SAG-ViT imports it when it is built, not ``import
mmvig``."""
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer


class TransformerLayer(TransformerEncoderLayer):
    """mmpretrain's ``TransformerEncoderLayer``."""
