"""Model code: pure builders, task definitions, preprocessing and training functions."""
