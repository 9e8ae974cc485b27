"""Facts about the penguins task: CSV columns, feature kinds, classes."""

LABEL_KEY = "species"
CLASS_NAMES = ("Adelie", "Chinstrap", "Gentoo")
"""Species in class-index order (the CSV's ``species`` column holds the index)."""
NUM_CLASSES = len(CLASS_NAMES)

NUMERIC_KEYS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
"""Measurements; missing values are imputed with the train mean, then z-scored."""
CATEGORICAL_KEYS = ("island", "sex")
"""Strings; one-hot over the train vocabulary (missing and unseen: an out-of-vocabulary slot)."""
FEATURE_KEYS = NUMERIC_KEYS + CATEGORICAL_KEYS
"""Raw columns the task reads besides the label (checked in the CSV header before a run)."""
CSV_COLUMNS = (LABEL_KEY, "island", *NUMERIC_KEYS, "sex", "year")
"""Columns of the bundled CSV, in the package's order (``year`` is kept but not read)."""
