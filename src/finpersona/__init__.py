"""FinPersona: customer analytics and profiling for financial institutions."""

__version__ = "0.1.0"

__all__ = ["__version__"]
