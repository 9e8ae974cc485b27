"""dlpipe serving: TF Serving deployment files and an embedded server speaking its APIs.

Modules (nothing heavy is imported here, so ``dlpipe --help`` stays fast):

* ``serving.config``: generates and parses TF Serving's ``models.config``, batching and
  monitoring files, and the docker-compose deployment (``write_models_config`` is the hook
  the pipeline's push step calls).
* ``serving.server``: the embedded model server (REST on ``serving.http``'s asyncio server,
  gRPC on ``serving.h2``'s HTTP/2 transport, or grpcio's, with the official
  ``tensorflow-serving-api`` messages), used by
  ``dlpipe serve`` and the infra validator; ``serving.workers`` runs several of them behind
  the same ports.
* ``serving.client``: Python REST and gRPC clients.
* ``serving.backends``: TF SavedModel, ONNX Runtime and LiteRT behind one interface.
"""
