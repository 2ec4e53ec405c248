from arachne.core import Subgraph, Scheduler
from producer import Producer
from consumer import Consumer

g = Subgraph()
g.add_node(Producer(n=3))
g.add_node(Consumer())
g.connect(("producer", "out"), ("consumer", "in"), capacity=16)

sch = Scheduler()
sch.register(g)
sch.run()
