"""One small demo bank shared by the synth tests (generation takes a couple of seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from finpersona.synth import SynthSummary, generate_demo_bank

CUSTOMERS = 3000
DIRTY = 0.02


@pytest.fixture(scope="session")
def bank(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    out: Path = tmp_path_factory.mktemp("bank")
    return generate_demo_bank(out, CUSTOMERS, seed=11, dirty_rate=DIRTY, chunk_size=1000)
