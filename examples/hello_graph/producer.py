from arachne.core import Node, Message


class Producer(Node):
    def __init__(self, n=5):
        self._n = n
        self._i = 0

    def name(self):
        return "producer"

    def inputs(self):
        return {}

    def outputs(self):
        return {"out": int}

    def on_start(self):
        self._i = 0

    def on_tick(self):
        if self._i < self._n:
            self.emit("out", Message(payload=self._i))
            self._i += 1
