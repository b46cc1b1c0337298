"""Using a trained translator: a run's or an exported model folder's, on new videos."""
