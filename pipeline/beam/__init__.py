"""Beam beyond this process: the project's code shipped to Beam workers, and the worker side.

``options.pipeline_args`` is what the Beam-based components get (``beam_pipeline_args``):
the runner's flags from the config plus, for runners whose workers are other processes or
machines, dlpipe's own wheel (``package.project_wheel``) as ``--extra_package``. On the
worker side, ``boot`` implements Beam's SDK container contract in Python (fetch the staged
files, install them, start the SDK harness) and ``worker_pool`` is an external worker pool
(``environment_type: EXTERNAL``) that starts a booted worker per request, on loopback unless
told otherwise. Nothing here imports TensorFlow.
"""
