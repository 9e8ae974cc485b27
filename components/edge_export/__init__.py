"""Edge export: TFLite (float32, float16, dynamic-range, int8) and ONNX from a SavedModel.

The conversion library (``export``, ``convert``, ``runners``, ``report``) imports TensorFlow
only inside functions, and nothing here imports TFX: the ``dlpipe export-edge`` command uses
the library directly. ``component`` and ``executor`` wrap it as a TFX component.
"""
