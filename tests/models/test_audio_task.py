"""The audio kind: the in-graph front end against TensorFlow's own STFT and mel matrix, the
Transform and the export (raw samples of any length, WAV files through ``predict_audio``,
the ``edge`` signature as a builtin-ops TFLite file that answers like the SavedModel)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from scipy.io import wavfile

from dlpipe import contract
from models.tasks import audio, transform
from models.tasks.spec import AUDIO_CLASSIFICATION, Task

RATE = 8000
TASK = Task(kind=AUDIO_CLASSIFICATION, label="label", label_dtype="int", classes=("low", "high"),
            class_keys=("0", "1"), audio="audio", sample_rate=RATE, audio_samples=4000,
            audio_scale=1.0)


def _clips(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tones, low (200-300 Hz) for label 0 and high (1-1.5 kHz) for label 1, in noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    t = np.arange(TASK.audio_samples) / RATE
    hz = np.where(labels == 0, rng.uniform(200, 300, n), rng.uniform(1000, 1500, n))
    clips = 0.4 * np.sin(2 * np.pi * hz[:, None] * t) + 0.01 * rng.standard_normal(
        (n, TASK.audio_samples))
    return clips.astype(np.float32), labels


def test_front_end_is_tensorflows_stft_and_mel_scale():
    x = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.1
    got = audio.log_mel(tf.constant(x), 16000).numpy()
    mel = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 7600.0).numpy()
    np.testing.assert_allclose(audio.mel_weights(16000), mel, atol=1e-5)
    stft = tf.signal.stft(x, frame_length=480, frame_step=160, fft_length=512)
    want = np.log(np.abs(stft.numpy()) @ mel + 1e-6)
    assert got.shape == want.shape == (2, *audio.spectrogram_shape(16000, 16000))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_clips_are_padded_or_cut_to_the_clip_length():
    x = tf.constant([[1.0, 2.0, 3.0]])
    assert audio.fix_length(x, 5).numpy().tolist() == [[1.0, 2.0, 3.0, 0.0, 0.0]]
    assert audio.fix_length(x, 2).numpy().tolist() == [[1.0, 2.0]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from models.cnn import build_cnn
    from models.tasks.export import export_model
    from models.training import input_shape

    out = tmp_path_factory.mktemp("audio")
    clips, labels = _clips(40)
    spec = {"audio": tf.io.FixedLenFeature([TASK.audio_samples], tf.float32),
            "label": tf.io.FixedLenFeature([1], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{"audio": c, "label": [int(y)]} for c, y in zip(clips, labels, strict=True)]
    with tft_beam.Context(temp_dir=str(out / "tmp"), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: transform.preprocessing_fn(inputs, {"task": TASK.to_dict()}))
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "graph"))
    metadata_io.write_metadata(
        metadata, str(out / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_output = tft.TFTransformOutput(str(out / "graph"))
    x = np.stack([r[TASK.model_input] for r in transformed])
    assert x.shape == (40, *input_shape(TASK, tft_output))
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1.0) < 1e-3  # z-scored
    keras.utils.set_random_seed(0)
    model = build_cnn(input_shape(TASK, tft_output), 2, conv_filters=(4,), dense_units=8)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=20, verbose=0)
    path = export_model(model, tft_output, out / "model", TASK)
    return tf.saved_model.load(str(path)), path


def _wav(clip: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, np.round(clip * 32767).astype(np.int16))
    return buffer.getvalue()


def test_serving_takes_raw_samples_of_any_length(exported):
    loaded, _ = exported
    serve = loaded.signatures[contract.SERVING_SIGNATURE]
    clips, labels = _clips(6, seed=1)
    out = serve(audio=tf.constant(clips))
    assert out[contract.CLASS_ID_OUTPUT].numpy().tolist() == labels.tolist()
    assert [n.decode() for n in out[contract.CLASS_NAME_OUTPUT].numpy()] == [
        TASK.classes[y] for y in labels]
    longer = np.concatenate([clips, np.zeros((6, 1000), np.float32)], axis=1)
    np.testing.assert_allclose(serve(audio=tf.constant(longer))["probabilities"],
                               out["probabilities"], atol=1e-6)


def test_wav_files_answer_as_their_samples(exported):
    loaded, _ = exported
    clips, _ = _clips(4, seed=2)
    files = [_wav(c[:3000]) for c in clips]  # shorter clips: padded with silence
    by_file = loaded.signatures[contract.AUDIO_BYTES_SIGNATURE](
        audio_bytes=tf.constant(files))
    decoded = np.stack([wavfile.read(io.BytesIO(f))[1] / 32768.0 for f in files])
    by_samples = loaded.signatures[contract.SERVING_SIGNATURE](
        audio=tf.constant(decoded.astype(np.float32)))
    np.testing.assert_allclose(by_file["probabilities"], by_samples["probabilities"],
                               atol=1e-6)


@pytest.mark.parametrize("data,message", [
    (b"not a wav file", "must hold WAV files"),
    (_wav(np.zeros(100, np.float32), rate=16000), "sample rate must be 8000 Hz"),
])
def test_bad_files_are_invalid_arguments(exported, data, message):
    loaded, _ = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures[contract.AUDIO_BYTES_SIGNATURE](audio_bytes=tf.constant([data]))


def test_edge_signature_converts_to_builtin_tflite(exported):
    from ai_edge_litert.interpreter import Interpreter

    from components.edge_export import formats
    from components.edge_export.convert import convert_tflite
    from components.edge_export.signature import load_saved_model, resolve_signature

    _, path = exported
    loaded = load_saved_model(path)
    edge = loaded.signatures[contract.EDGE_SIGNATURE]
    sig = resolve_signature(loaded, path)
    options = formats.ExportOptions()
    assert not options.allow_flex  # builtin ops only
    interpreter = Interpreter(model_content=convert_tflite(loaded, sig, formats.FLOAT32,
                                                           options))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["shape"].tolist() == [1, TASK.audio_samples]
    clips, _ = _clips(3, seed=3)
    for clip in clips:
        interpreter.set_tensor(inp["index"], clip[None])
        interpreter.invoke()
        want = edge(audio=tf.constant(clip[None]))["probabilities"].numpy()
        np.testing.assert_allclose(interpreter.get_tensor(out["index"]), want, atol=1e-5)
