"""mmvig's models; each loads on first use (SAG-ViT needs mmpretrain)."""
import importlib

_WHERE = {
    'AGGREGATORS': '.attention_vig', 'AttentionViG': '.attention_vig',
    'CrossAttentionVig': '.vig', 'Grapher': '.attention_vig',
    'SAGViT': '.sag_vit',
    'GridGraph': '.graph', 'k_connectivity_graph': '.graph',
    'similarity_edge_weights': '.graph',
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
