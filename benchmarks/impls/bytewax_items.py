"""bytewax, item by item: ``TestingSource(batch_size=1)`` feeding ``op.map``/``op.filter``."""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

from benchmarks.impls.bytewax_sink import CallSink, each, run
from benchmarks.workloads import (
    BRANCH_OFFSETS,
    Tally,
    branch,
    double,
    double_stamped,
    inc,
    inc_stamped,
    keep,
    paced,
    records,
)

BATCH = 1


def pipeline(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("pipeline")
    s = op.input("source", flow, TestingSource(range(n), batch_size=BATCH))
    s = op.map("double", s, double)
    s = op.filter("keep", s, keep)
    s = op.map("inc", s, inc)
    op.output("sink", s, CallSink(each(tally.add)))
    run(flow)
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("fanout")
    s = op.input("source", flow, TestingSource(range(n), batch_size=BATCH))
    branches = [op.map(f"branch{i}", s, branch(i)) for i in BRANCH_OFFSETS]
    op.output("sink", op.merge("merge", *branches), CallSink(each(tally.add)))
    run(flow)
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("latency")
    s = op.input("source", flow, TestingSource(paced(n), batch_size=BATCH))
    s = op.map("double", s, double_stamped)
    s = op.map("inc", s, inc_stamped)
    op.output("sink", s, CallSink(each(tally.add_stamped)))
    run(flow)
    return tally


def backpressure(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("backpressure")
    s = op.input("source", flow, TestingSource(records(n), batch_size=BATCH))
    op.output("sink", s, CallSink(each(tally.add_record)))
    run(flow)
    return tally
