"""Runs the TFLite Task Library (tflite-support 0.4.4) on edge files, in a process of its own.

The Task Library's native modules and TensorFlow's both register a pybind11 type named
``StatusCode``: whichever is imported second fails ("generic_type: cannot initialize type
StatusCode"), and ``tflite_support`` imports TensorFlow when it can. So this runs as
``python task_library.py REQUEST.json`` with TensorFlow made unimportable, as an app's
process is (it links the same C++ library, not TensorFlow).

REQUEST: ``{"api": "ImageClassifier" | "NLClassifier", "model": path, "inputs": [image
paths or texts]}``. Prints ``{"top": [[label, score], ...]}``, one per input.
"""

from __future__ import annotations

import ctypes.util
import json
import sys


def task_library_missing() -> str:
    """Why the Task Library cannot run here, or "" when it can."""
    if ctypes.util.find_library("usb-1.0") is None:
        return ("tflite-support's native modules need Debian's libusb-1.0-0 "
                "(apt-get install libusb-1.0-0; .ci/run installs it)")
    return ""


def classify(request: dict) -> list[list]:
    sys.modules["tensorflow"] = None  # see the module docstring
    from tflite_support.task import core, text, vision

    base = core.BaseOptions(file_name=request["model"], num_threads=1)
    if request["api"] == "ImageClassifier":
        from tflite_support.task import processor

        classifier = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(
            base_options=base, classification_options=processor.ClassificationOptions(
                max_results=1)))
        results = [classifier.classify(vision.TensorImage.create_from_file(path))
                   for path in request["inputs"]]
    else:
        classifier = text.NLClassifier.create_from_options(
            text.NLClassifierOptions(base_options=base))
        results = [classifier.classify(t) for t in request["inputs"]]
    top = []
    for result in results:
        categories = result.classifications[0].categories
        best = max(categories, key=lambda c: c.score)
        top.append([best.category_name, float(best.score)])
    return top


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps({"top": classify(json.load(f))}))
