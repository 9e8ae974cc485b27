"""Thin runners for other orchestrators: each hands the config's paths and options to the
same ``pipeline.pipeline.create_pipeline`` factory the local runner uses."""
