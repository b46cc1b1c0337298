"""Run report: tables over variants x seeds, the run card, and plots (training curves, Figure 4)."""
