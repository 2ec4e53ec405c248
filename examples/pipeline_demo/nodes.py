"""The nodes of the pipeline demo: validate orders, price them, store them slowly."""

from __future__ import annotations

import time
from typing import TypedDict

from arachne import Input, Message, Node, Output


class Order(TypedDict):
    """An order as it arrives: maybe incomplete."""

    id: int
    qty: int
    price: float


class PricedOrder(TypedDict):
    """An order that passed validation, with its total."""

    id: int
    total: float


class Validator(Node):
    """Passes well-formed orders on ``out`` and sends the rest to ``rejected``."""

    inp = Input(dict, name="in")
    out = Output(Order)
    rejected = Output(dict)

    def on_message(self, port: str, msg: Message) -> None:
        order = msg.payload
        if order.get("qty", 0) > 0 and order.get("price", 0) > 0:
            self.emit("out", order)
        else:
            self.emit("rejected", order)


class Transformer(Node):
    """Turns an order into a priced order."""

    inp = Input(Order, name="in")
    out = Output(PricedOrder)

    def on_message(self, port: str, msg: Message) -> None:
        order = msg.payload
        self.emit("out", {"id": order["id"], "total": round(order["qty"] * order["price"], 2)})


class SlowStore(Node):
    """Stores priced orders, slowly (2 ms each, like a remote database)."""

    inp = Input(PricedOrder, name="in")

    def __init__(self, delay: float = 0.002) -> None:
        self.delay = delay
        self.count = 0
        self.revenue = 0.0

    def on_message(self, port: str, msg: Message) -> None:
        time.sleep(self.delay)
        self.count += 1
        self.revenue += msg.payload["total"]


class RejectCounter(Node):
    """Counts rejected orders."""

    inp = Input(dict, name="in")

    def __init__(self) -> None:
        self.count = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.count += 1
