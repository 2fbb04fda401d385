"""The test-only peer: ActionFormer's evaluator (``libs/utils/metrics.py``, MIT licence).

``make test`` downloads the ``actionformer==1.5.0`` source distribution into
``.venv/reference/``; it is never committed. Only its ``metrics.py`` is loaded.
"""

import importlib.util
from pathlib import Path

import pytest

PEER = (
    Path(__file__).resolve().parents[2]
    / ".venv/reference/actionformer-1.5.0/actionformer/utils/metrics.py"
)


@pytest.fixture(scope="session")
def peer_metrics():
    if not PEER.is_file():
        pytest.fail(f"reference evaluator missing at {PEER}: run `make test` (it downloads it)")
    spec = importlib.util.spec_from_file_location("actionformer_metrics", PEER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
