"""Distribution: a graph split into partitions on several hosts, joined by mesh links.

See docs/distributed.md. ``Placement`` says which partition each node runs in; links that
cross partitions become mesh links (``LinkOut`` and ``LinkIn`` on either side) whose
channels carry frames with sequence numbers, epochs and credits over a ``Transport``: in
memory (``MemoryNetwork``, which the simulation harness drives) or TCP between processes.
"""
