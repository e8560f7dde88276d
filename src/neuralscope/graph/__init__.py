"""Structure graphs: readers turn a model into a :class:`Graph`; layouts and renderers draw it."""
from .model import Cluster, Edge, Graph, GraphView, Group, Node, TensorMeta, ViewEdge, ViewNode  # noqa: F401
from .api import graph  # noqa: F401
from .summary import Summary, summary  # noqa: F401
