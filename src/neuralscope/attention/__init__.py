"""Attention maps: extraction from any PyTorch transformer, rollout and flow, head
statistics, and views (head heatmap, model view, interactive head view, ViT overlay).

Example:
    >>> from neuralscope.zoo import TinyTransformer
    >>> m = TinyTransformer().eval()
    >>> maps = attention(m, m.example_input(1))
    >>> maps.rollout().shape
    (12, 12)
"""
from .extract import NoAttentionError, attention, sdpa_weights
from .maps import AttentionMaps, HeadStats, from_array
from .rollout import attention_flow, head_average, head_statistics, residual_attention, rollout

__all__ = ["attention", "AttentionMaps", "HeadStats", "NoAttentionError", "attention_flow", "from_array",
           "head_average", "head_statistics", "residual_attention", "rollout", "sdpa_weights"]
