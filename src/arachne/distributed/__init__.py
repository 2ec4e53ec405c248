"""Distribution: a graph split into partitions on several hosts, joined by mesh links.

See docs/distributed.md. ``Placement`` says which partition each node runs in; links that
cross partitions become mesh links (``LinkOut`` and ``LinkIn`` on either side) whose
channels carry frames with sequence numbers, epochs and credits over a transport: in memory
(``MemoryNetwork``, which the simulation harness drives, in a ``MemoryCluster``), TCP between
worker processes (``ProcessCluster``) or Ray actors (``RayCluster``, the ``ray`` extra).
``Runtime(cluster=Cluster(placement, on=...))`` runs a runtime's registered graph so.
"""

from arachne.distributed.channels import LinkOptions
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import DEGRADED, MeshHost
from arachne.distributed.link_nodes import LinkIn, LinkOut
from arachne.distributed.memory import MemoryNetwork, NetworkFaults, Partition
from arachne.distributed.partition_map import GroupRange, PartitionMap, RouteAudit
from arachne.distributed.placement import KEY_GROUPS, Placement, key_group, partition_graph, plan
from arachne.distributed.processes import ClusterError, ProcessCluster
from arachne.distributed.ray_cluster import RayCluster
from arachne.distributed.runtime_cluster import Cluster
from arachne.distributed.sharding import KeyRouter

__all__ = [
    "DEGRADED",
    "KEY_GROUPS",
    "Cluster",
    "ClusterError",
    "GroupRange",
    "KeyRouter",
    "LinkIn",
    "LinkOptions",
    "LinkOut",
    "MemoryCluster",
    "MemoryNetwork",
    "MeshHost",
    "NetworkFaults",
    "Partition",
    "PartitionMap",
    "Placement",
    "ProcessCluster",
    "RayCluster",
    "RouteAudit",
    "Unavailable",
    "federate",
    "key_group",
    "partition_graph",
    "plan",
]
