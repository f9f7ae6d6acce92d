"""A synthetic Chinese retail bank for demos, tests and benchmarks.

``generate_demo_bank`` writes messy source files for every canonical table to
``out/source`` and the hidden truth behind them (personas, true default risk,
true uplift, churn and product-acquisition hazards, event ownership, every
injected corruption) to ``out/truth``.
"""

from finpersona.synth.generator import SynthSummary, generate_demo_bank

__all__ = ["SynthSummary", "generate_demo_bank"]
