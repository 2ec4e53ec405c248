from arachne.core import Node


class Consumer(Node):
    def name(self):
        return "consumer"

    def inputs(self):
        return {"in": int}

    def outputs(self):
        return {}

    def on_message(self, port, msg):
        print(f"got: {msg.payload}")
