"""Sample inputs and label counts, read from ExampleGen's tf.Example files.

What a sample looks like depends on the run's task (``models.tasks.spec.Task``):

- the image kinds: a grid of images;
- the audio kind: a grid of the clips' log-mel spectrograms (time across, mel bands up), as
  the model hears them;
- the text kind: a few texts;
- the tabular kinds: a table of rows, one column per feature.

Labels are shown as class names (the task's classes) or values.

``generated_samples`` draws a generative model's output with the run's trained model: a
VAE's reconstructions of the sample inputs, a GAN's samples with the scorer's verdict.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dlpipe.examples import feature_values, read_examples, split_files
from models.tasks.spec import Task
from pipeline.report.facts import GeneratedSamples, Samples

SAMPLE_COUNT = 32
GENERATED_COUNT = 16
MAX_SCAN = 100_000
"""Label counts read at most this many examples per split (the report says so if capped)."""
MAX_CELL = 40


def sample_kind(task: Task) -> str:
    """``images``, ``texts`` or ``rows``, by the task's kind (audio is drawn as images)."""
    return ("images" if task.is_image or task.is_audio else "texts" if task.is_text
            else "rows")


def label_text(example, task: Task) -> str:
    """The example's label as a class name (classifiers) or its value."""
    values = feature_values(example, task.label)
    if not values:
        return "(missing)"
    value = values[0]
    if isinstance(value, float):
        return f"{value:g}"
    return task.class_name(value)


def label_counts(examples_uri: str | Path, split: str, task: Task,
                 limit: int = MAX_SCAN) -> dict[str, int]:
    """Examples per label in one split, in label order."""
    counts = Counter(label_text(e, task) for e in read_examples(
        split_files(examples_uri, split), limit))
    return dict(sorted(counts.items(), key=lambda kv: _label_order(kv[0], task)))


def _label_order(label: str, task: Task) -> tuple[int, str]:
    names = list(task.classes)
    return (names.index(label), "") if label in names else (len(names), label)


def read_samples(examples_uri: str | Path, split: str, task: Task,
                 count: int = SAMPLE_COUNT) -> Samples:
    """Up to ``count`` examples of ``split`` shaped for the task's kind of input.

    Examples lacking the input feature (possible in a run stopped by anomalies) are
    skipped, and ``note`` says how many.
    """
    kind = sample_kind(task)
    samples = Samples(kind=kind, split=split)
    skipped = 0
    if task.is_audio:  # two clips per class at most: spectrograms are wide
        return _audio_samples(examples_uri, split, task, min(count, 2 * task.num_classes))
    if kind == "images":
        samples.image_shape = tuple(int(d) for d in task.image_shape)
        size = 1
        for d in samples.image_shape:
            size *= d
    for example in read_examples(split_files(examples_uri, split), count * 4):
        if len(samples.labels) >= count:
            break
        if kind == "images":
            pixels = [float(v) for v in feature_values(example, task.image)]
            if len(pixels) != size:
                skipped += 1
                continue
            samples.images.append(pixels)
        elif kind == "texts":
            values = feature_values(example, task.text)
            if not values:
                skipped += 1
                continue
            samples.texts.append(_text(values[0]))
        else:
            if not samples.columns:
                samples.columns = sorted(k for k in example.features.feature
                                         if k != task.label)
            samples.rows.append([_cell(feature_values(example, c)) for c in samples.columns])
        samples.labels.append(label_text(example, task))
    if skipped:
        samples.note = (f"{skipped} of the first examples lack the input feature and are "
                        f"not shown.")
    return samples


def _audio_samples(examples_uri: str | Path, split: str, task: Task, count: int) -> Samples:
    """Clips as the images of their log-mel spectrograms (``models.tasks.audio``)."""
    import numpy as np
    import tensorflow as tf

    from models.tasks import audio

    by_label: dict[str, list] = {}
    for example in read_examples(split_files(examples_uri, split), count * 20):
        values = feature_values(example, task.audio)
        if values:
            clip = np.zeros(task.audio_samples, np.float32)
            clip[: min(len(values), task.audio_samples)] = values[: task.audio_samples]
            by_label.setdefault(label_text(example, task), []).append(clip)
    clips, labels = [], []  # round robin over the labels: every class shows
    for i in range(max((len(v) for v in by_label.values()), default=0)):
        for label in sorted(by_label, key=lambda k: _label_order(k, task)):
            if i < len(by_label[label]) and len(clips) < count:
                clips.append(by_label[label][i])
                labels.append(label)
    samples = Samples(kind="images", split=split, labels=labels)
    if clips:
        spectrograms = audio.front_end(tf.constant(np.stack(clips)), task.audio_samples,
                                       task.sample_rate, task.audio_scale)[..., 0].numpy()
        images = np.flip(np.transpose(spectrograms, (0, 2, 1)), axis=1)  # mel bands up
        samples.image_shape = (*images.shape[1:], 1)
        samples.images = [image.reshape(-1).tolist() for image in images]
    samples.note = ("Each clip as the model hears it: its log-mel spectrogram, time from left "
                    "to right, low to high mel bands from bottom to top.")
    return samples


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _cell(values: list) -> str:
    if not values:
        return "(missing)"
    text = ", ".join(_text(v) if not isinstance(v, float) else f"{v:g}" for v in values)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def generated_samples(model_dir: str | Path, task: Task, evaluation: dict,
                      inputs: Samples | None, count: int = GENERATED_COUNT
                      ) -> GeneratedSamples:
    """A generative model's output for the report, from its SavedModel.

    Args:
      model_dir: The trained model (the Trainer's ``Format-Serving`` directory).
      task: The run's task (image feature and shape).
      evaluation: The GenerativeEvaluator's metrics (``kind``, ``scorer_model``).
      inputs: Sample inputs (a VAE reconstructs the first ``count`` of them).
      count: Images to generate or reconstruct.
    """
    import numpy as np
    import tensorflow as tf

    from dlpipe.contract import PROBABILITIES_OUTPUT
    from models.generative import contract

    shape = tuple(int(d) for d in task.image_shape)
    loaded = tf.saved_model.load(str(model_dir))
    out = GeneratedSamples(kind=evaluation.get("kind", ""), image_shape=shape)
    if out.kind == contract.VAE:
        if inputs is None or not inputs.images:
            raise ValueError("no sample inputs to reconstruct")
        originals = np.asarray(inputs.images[:count], np.float32).reshape(-1, *shape)
        rebuilt = loaded.signatures[contract.SERVING_SIGNATURE](
            **{contract.IMAGE: tf.constant(originals)})[contract.IMAGE].numpy()
        for start in range(0, len(originals), 8):  # a row of inputs, then their reconstructions
            for i in range(start, min(start + 8, len(originals))):
                out.images.append(originals[i].reshape(-1).tolist())
                out.labels.append(f"input {inputs.labels[i]}")
            for i in range(start, min(start + 8, len(originals))):
                out.images.append(rebuilt[i].reshape(-1).tolist())
                out.labels.append("rebuilt")
        out.caption = (f"{len(originals)} {inputs.split} inputs (odd rows) and the VAE's "
                       f"reconstructions of them (even rows), decoded from z_mean.")
        return out
    generate = loaded.signatures[contract.GENERATE_SIGNATURE]
    latent = generate.structured_input_signature[1][contract.NOISE_INPUT].shape[-1]
    noise = np.random.default_rng(0).standard_normal((count, latent)).astype(np.float32)
    images = generate(**{contract.NOISE_INPUT: tf.constant(noise)})[contract.IMAGE].numpy()
    out.images = [image.reshape(-1).tolist() for image in images]
    out.labels = [f"sample {i + 1}" for i in range(len(images))]
    out.caption = f"{len(images)} samples of the GAN's generator (noise seed 0)."
    scorer = evaluation.get("scorer_model")
    if scorer:
        fn = tf.saved_model.load(scorer).signatures[contract.SERVING_SIGNATURE]
        probabilities = fn(**{task.image: tf.constant(images)})[PROBABILITIES_OUTPUT].numpy()
        out.labels = [f"{int(p.argmax())} ({p.max():.2f})" for p in probabilities]
        out.caption += (f" Titles: the class the scorer ({scorer}) sees and its "
                        f"probability.")
    return out
