"""The hello graph from the Arachne README, its three files exactly as written there.

``main.py`` imports its neighbours as top-level modules (``from producer import Producer``), as
the README shows. So that ``python -m examples.hello_graph.main`` finds them, this package puts
its own folder on ``sys.path`` when it is imported.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
