"""Edge pusher: copies the blessed edge formats to ``<edge_root>/<model_name>/<version>/``."""
