"""The digits image-classification task (scikit-learn's 8x8 handwritten digits)."""
