"""The training process in depth: loss landscapes, optimizer trajectories and curvature.

* :func:`loss_landscape` - the loss and accuracy on a line or plane through the weights, along
  filter-normalised random directions or towards other weights (``slices``), evaluated for
  many weight points at once (``evaluate``).
* :func:`trajectory` - checkpoints projected on their principal directions, over the loss of
  that plane (``trajectory``).
* :func:`curvature`, :func:`hessian_eigenvalues`, :func:`hvp` - Hessian eigenvalues, trace
  and density from Hessian-vector products (``curvature``, ``hessian``).
* result objects :class:`LossLandscape`, :class:`Trajectory`, :class:`Curvature` (``results``),
  drawn by ``plot`` and ``html``.
"""
from .curvature import curvature, hessian_eigenvalues, hvp
from .directions import filter_normalize, random_direction
from .results import Curvature, LossLandscape, Trajectory
from .slices import loss_landscape
from .trajectory import trajectory

__all__ = [
           "Curvature",
           "LossLandscape",
           "Trajectory",
           "curvature",
           "filter_normalize",
           "hessian_eigenvalues",
           "hvp",
           "loss_landscape",
           "random_direction",
           "trajectory",
]
