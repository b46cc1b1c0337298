"""sign2gpt: a reproducible implementation of Sign2GPT (Wong, Camgoz, Bowden, ICLR 2024)."""

__version__ = "0.1.0"
