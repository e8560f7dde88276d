"""Whole-data-set audits: :func:`audit` computes explanations, their faithfulness and
ground-truth scores, layer statistics and an embedding over every example, in shards that
stream into a run, resume after an interruption and run locally or on Ray.

Example:
    >>> import tempfile
    >>> from neuralscope.zoo import DigitsCNN
    >>> net = DigitsCNN()
    >>> a = audit(net, net.example_input(20), layer="features", run=tempfile.mkdtemp(), steps=4)
    >>> a.n, a.summary["worst"]["grad_cam/deletion_auc"][:1] != []
    (20, True)
"""
from .api import audit
from .engines import LocalEngine, RayEngine
from .result import AuditResult
from .shards import AuditSpecError, ShardExistsError, ShardStore, audit_dirs

__all__ = ["audit", "AuditResult", "LocalEngine", "RayEngine", "ShardStore", "AuditSpecError",
           "ShardExistsError", "audit_dirs"]
