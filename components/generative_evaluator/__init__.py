"""GenerativeEvaluator: evaluates and blesses VAEs and GANs (see component.py)."""
