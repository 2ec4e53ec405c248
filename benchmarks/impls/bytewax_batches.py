"""bytewax, batched: ``TestingSource(batch_size=1000)`` and ``op.flat_map_batch`` stages.

``flat_map_batch`` is the operator ``op.map`` and ``op.filter`` are built on; handing it a list
comprehension per batch is bytewax's own batched form. The latency sink still stamps every item.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

from benchmarks.impls.bytewax_sink import CallSink, each, each_of, run, summed
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

BATCH = 1000


def pipeline(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("pipeline")
    s = op.input("source", flow, TestingSource(range(n), batch_size=BATCH))
    s = op.flat_map_batch("double", s, lambda xs: [double(x) for x in xs])
    s = op.flat_map_batch("keep", s, lambda xs: [x for x in xs if keep(x)])
    s = op.flat_map_batch("inc", s, lambda xs: [inc(x) for x in xs])
    op.output("sink", s, CallSink(summed(tally)))
    run(flow)
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("fanout")
    s = op.input("source", flow, TestingSource(range(n), batch_size=BATCH))
    branches = [op.flat_map_batch(f"branch{i}", s, each_of(branch(i))) for i in BRANCH_OFFSETS]
    op.output("sink", op.merge("merge", *branches), CallSink(summed(tally)))
    run(flow)
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    flow = Dataflow("latency")
    s = op.input("source", flow, TestingSource(paced(n), batch_size=BATCH))
    s = op.flat_map_batch("double", s, lambda xs: [double_stamped(x) for x in xs])
    s = op.flat_map_batch("inc", s, lambda xs: [inc_stamped(x) for x in xs])
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
