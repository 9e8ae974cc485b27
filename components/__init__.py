"""Custom TFX components of dlpipe (TFX layout: ``<name>/component.py`` and ``executor.py``)."""
