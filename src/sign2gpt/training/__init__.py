"""Training infrastructure shared by pseudo-gloss pretraining and translation: optimiser and
schedule, clipping, checkpoints, distributed helpers and the epoch loop."""
