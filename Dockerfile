# dlpipe image: Python 3.10 (TFX 1.16's newest supported Python), the locked dependencies,
# the project, and `dlpipe` as entrypoint. This is also the image Airflow / Kubeflow runs use.
#   docker build -t dlpipe .
#   docker run --rm -v "$PWD/runs:/work/runs" dlpipe run
# The Beam worker image (beam.environment_type DOCKER, Dataflow's sdk_container_image): the
# same environment with Beam's SDK container boot as entrypoint (see docs/beam.md).
#   docker build --target beam-worker -t dlpipe-beam-worker .
FROM python:3.10-slim-bookworm AS base

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=3

WORKDIR /opt/dlpipe
# libusb-1.0-0: tflite-support's native modules (TFLite metadata writers) link it.
RUN apt-get update && apt-get install -y --no-install-recommends libusb-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.13.9
# Dependencies first (one resolution, against the lock) so code changes reuse this layer.
COPY requirements.lock ./
RUN uv pip install --system --no-cache --compile-bytecode -r requirements.lock

COPY pyproject.toml README.md ./
COPY dlpipe ./dlpipe
COPY pipeline ./pipeline
COPY models ./models
COPY components ./components
COPY serving ./serving
RUN uv pip install --system --no-cache --no-deps . && dlpipe --help > /dev/null

# Beam's own boot (the apache-beam version of requirements.lock) implements the container
# contract Dataflow, Flink and Spark start workers with; it installs staged packages first.
FROM base AS beam-worker
COPY --from=apache/beam_python3.10_sdk:2.59.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]

FROM base
WORKDIR /work
# 8500: gRPC, 8501: REST (`dlpipe serve`).
EXPOSE 8500 8501
ENTRYPOINT ["dlpipe"]
CMD ["--help"]
