"""Beam's SDK container contract for Python workers, in Python: ``dlpipe-beam-boot``.

What Beam's Go ``boot`` does at the entrypoint of its Python SDK image, for workers that run
on this venv or the dlpipe image instead: ask the runner's provision service for the job's
pipeline options and staged files, fetch the files from its artifact service, install the
staged packages (``--extra_package`` wheels and sdists, a ``--setup_file`` sdist, a
``--requirements_file``'s packages) into the worker's own directory, then start Beam's SDK
harness with them first on its path. The environment supplies the dependencies (the lock);
the staged wheel supplies dlpipe's code, so a worker runs the driver's code even where an
older dlpipe is installed.

Used as ``environment_type: PROCESS`` (``{"command": ".../dlpipe-beam-boot"}`` on Flink or
Spark), as the Docker image's entrypoint (``DOCKER``) and by ``dlpipe beam-worker-pool``
(``EXTERNAL``) for each worker it starts. ``dlpipe-beam-boot --worker_pool`` runs that pool,
as Beam's own boot does.

Each worker also writes ``worker-<pid>.json`` into its directory when it ends: its id, pid,
the staged files it installed, the bundles it processed by top-level transform, and which
dlpipe and TFX-library modules it imported, from where (what shows that a job's work ran in
the workers, and on the staged code).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_LOG = logging.getLogger("dlpipe.beam.boot")

HARNESS = "apache_beam.runners.worker.sdk_worker_main"
# Names Beam's stager gives the files it stages (apache_beam/runners/portability/stager.py).
EXTRA_PACKAGES_FILE = "extra_packages.txt"
SETUP_PACKAGE_FILE = "workflow.tar.gz"
REQUIREMENTS_FILE = "requirements.txt"
DEFAULT_SITE_DIR = Path(tempfile.gettempdir()) / "dlpipe-beam-site"
RECORDED_PACKAGES = ("dlpipe", "pipeline", "models", "components", "serving",
                     "tensorflow_data_validation", "tensorflow_transform",
                     "tensorflow_model_analysis", "tfx_bsl", "tfx")
"""Top-level packages whose imported modules a worker records (see the module doc)."""

# Runs in the harness process: the installed packages go first on sys.path (before the
# environment's own dlpipe), the worker's record is written when it ends (SIGTERM included),
# then Beam's SDK harness runs as `python -m` would run it. Self-contained: it imports
# nothing of dlpipe before the staged code is on the path.
_LAUNCHER = '''
import atexit, collections, json, os, runpy, signal, sys
site, work, harness = sys.argv[1], sys.argv[2], sys.argv[3]
staged, tops = json.loads(sys.argv[4]), set(json.loads(sys.argv[5]))
record = os.path.join(work, "worker-%d.json" % os.getpid())
if site:
    sys.path.insert(0, site)
# Bundles this worker processed, by the job's top-level transform ("GenerateStatistics...").
bundles = collections.Counter()
from apache_beam.runners.worker import bundle_processor
process_bundle = bundle_processor.BundleProcessor.process_bundle
def counted(self, instruction_id):
    names = {t.unique_name.split("/")[0]
             for t in self.process_bundle_descriptor.transforms.values()
             if t.unique_name and not t.unique_name.startswith("ref_")}  # runner-made
    bundles.update(names)
    return process_bundle(self, instruction_id)
bundle_processor.BundleProcessor.process_bundle = counted
def _record():
    modules = {name: getattr(m, "__file__", None) or "" for name, m in list(sys.modules.items())
               if name.split(".")[0] in tops}
    with open(record + ".tmp", "w") as f:
        json.dump({"worker_id": os.environ.get("WORKER_ID", ""), "pid": os.getpid(),
                   "site": site, "staged": staged, "bundles": dict(bundles),
                   "modules": modules}, f)
    os.replace(record + ".tmp", record)
atexit.register(_record)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.argv = [harness]
runpy.run_module(harness, run_name="__main__", alter_sys=True)
'''


def _channel(url: str):
    from apache_beam.runners.worker.channel_factory import GRPCChannelFactory

    return GRPCChannelFactory.insecure_channel(url)


def provision_info(endpoint: str, worker_id: str):
    """The job's ProvisionInfo (pipeline options, staged files) from the runner."""
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc

    stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(_channel(endpoint))
    return stub.GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(),
                                 metadata=[("worker_id", worker_id)]).info


def fetch_artifacts(endpoint: str, worker_id: str, dependencies, dest: Path) -> list[str]:
    """Writes each staged file into ``dest`` under its staged name; returns the names."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import (
        beam_artifact_api_pb2,
        beam_artifact_api_pb2_grpc,
        beam_runner_api_pb2,
    )

    stub = beam_artifact_api_pb2_grpc.ArtifactRetrievalServiceStub(_channel(endpoint))
    names = []
    for dep in dependencies:
        if dep.role_urn != common_urns.artifact_roles.STAGING_TO.urn:
            continue
        name = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
            dep.role_payload).staged_name
        target = dest / name
        if not target.is_file():
            with open(target.with_suffix(target.suffix + ".part"), "wb") as f:
                for chunk in stub.GetArtifact(
                        beam_artifact_api_pb2.GetArtifactRequest(artifact=dep),
                        metadata=[("worker_id", worker_id)]):
                    f.write(chunk.data)
            os.replace(target.with_suffix(target.suffix + ".part"), target)
        names.append(name)
    return names


def packages_to_install(staged: Path, names: list[str]) -> list[Path]:
    """The staged packages, in the order Beam's boot installs them."""
    packages = []
    if REQUIREMENTS_FILE in names:  # the stager staged the listed packages beside it
        listed = {line.split("==")[0].strip().lower().replace("_", "-") for line in
                  (staged / REQUIREMENTS_FILE).read_text().splitlines()
                  if line.strip() and not line.startswith("#")}
        packages += [staged / n for n in names
                     if n.split("-")[0].lower().replace("_", "-") in listed]
    if EXTRA_PACKAGES_FILE in names:
        packages += [staged / line.strip() for line in
                     (staged / EXTRA_PACKAGES_FILE).read_text().splitlines() if line.strip()]
    if SETUP_PACKAGE_FILE in names:
        packages.append(staged / SETUP_PACKAGE_FILE)
    return packages


def install(packages: list[Path], site: Path) -> None:
    """``pip install --no-deps --target site`` of the staged packages, offline, once per
    ``site`` (workers of one job share it; a lock keeps two from installing at once)."""
    site.parent.mkdir(parents=True, exist_ok=True)
    with open(site.parent / (site.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if site.is_dir():
            return
        tmp = Path(tempfile.mkdtemp(prefix=site.name + ".", dir=site.parent))
        if packages:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--no-index", "--no-build-isolation", "--disable-pip-version-check",
                            "--target", str(tmp), *map(str, packages)], check=True)
        tmp.rename(site)


def boot(args: argparse.Namespace) -> int:
    """Runs one SDK worker for the runner that asked for it (blocks until it ends)."""
    import hashlib

    from apache_beam.portability.api import endpoints_pb2
    from google.protobuf import json_format, text_format

    work = Path(args.semi_persist_dir)
    staged = work / "staged"
    staged.mkdir(parents=True, exist_ok=True)
    info = provision_info(args.provision_endpoint, args.id)
    names = fetch_artifacts(args.artifact_endpoint, args.id, info.dependencies, staged)
    packages = packages_to_install(staged, names)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in packages)).hexdigest()[:16]
    site = Path(args.site_dir) / digest if packages else None
    if site is not None:
        install(packages, site)
        _LOG.info("worker %s: installed %s into %s", args.id,
                  ", ".join(p.name for p in packages), site)

    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    env = {**os.environ,
           "WORKER_ID": args.id,
           "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
           "SEMI_PERSISTENT_DIRECTORY": str(work),
           "LOGGING_API_SERVICE_DESCRIPTOR": descriptor(args.logging_endpoint),
           "CONTROL_API_SERVICE_DESCRIPTOR": descriptor(args.control_endpoint),
           "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities)}
    if info.HasField("status_endpoint"):
        env["STATUS_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(
            info.status_endpoint)
    harness = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(site or ""), str(work), HARNESS,
         json.dumps([p.name for p in packages]), json.dumps(RECORDED_PACKAGES)], env=env)
    try:
        return harness.wait()
    except KeyboardInterrupt:
        harness.terminate()
        return harness.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The container contract's flags (https://s.apache.org/beam-fn-api-container-contract).
    parser.add_argument("--id", default="", help="The worker's id (from the runner).")
    for name in ("logging", "artifact", "provision", "control"):
        parser.add_argument(f"--{name}_endpoint", default="", help=f"The runner's {name} "
                            "service, host:port.")
    parser.add_argument("--semi_persist_dir", default="",
                        help="The worker's own directory (default: a new temporary one).")
    parser.add_argument("--site_dir", default=str(DEFAULT_SITE_DIR),
                        help="Where staged packages are installed, one directory per content "
                             f"(default {DEFAULT_SITE_DIR}).")
    parser.add_argument("--worker_pool", action="store_true",
                        help="Run an external worker pool instead (see dlpipe beam-worker-pool).")
    parser.add_argument("--service_port", type=int, default=50000,
                        help="--worker_pool: the port to listen on (default 50000).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="--worker_pool: the address to listen on (default 127.0.0.1, "
                             "loopback only; 0.0.0.0 for every interface).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlpipe-beam-boot", description=__doc__.split(
        "\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.worker_pool:
        from pipeline.beam.worker_pool import serve_forever

        return serve_forever(args.host, args.service_port)
    missing = [f"--{n}" for n in ("id", "logging_endpoint", "artifact_endpoint",
                                  "provision_endpoint", "control_endpoint")
               if not getattr(args, n)]
    if missing:
        parser.error(f"the container contract needs {', '.join(missing)}")
    if not args.semi_persist_dir:
        args.semi_persist_dir = tempfile.mkdtemp(prefix=f"dlpipe-beam-{args.id}-")
    return boot(args)


if __name__ == "__main__":
    sys.exit(main())
