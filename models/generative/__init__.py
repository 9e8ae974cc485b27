"""The generative kinds (``task.kind: vae | gan``): their serving contract (``contract``) and
exports (``export``). Transform and training are the task kinds' (``models.tasks``)."""
