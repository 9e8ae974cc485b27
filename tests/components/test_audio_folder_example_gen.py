"""AudioFolderExampleGen on WAV folders written here: tones of one pitch per class, in the
formats WAV files come in (8-, 16-bit PCM, float, stereo, other rates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from components.audio_folder_example_gen.folder import (
    has_given_splits,
    load_clip,
    scan_audio_folder,
    to_float,
)
from dlpipe.errors import DlpipeError

PITCHES = {"high": 880.0, "low": 220.0}


def tone(hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_folder(root: Path, per_class: int = 3, rate: int = 16000,
                 splits: tuple[str, ...] = ()) -> Path:
    """``root/[split/]<high|low>/<i>.wav``: 16-bit tones of 0.3 to 0.5 s."""
    for split in splits or ("",):
        for name, hz in PITCHES.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pcm = np.round(tone(hz * (1 + 0.02 * i), 0.3 + 0.1 * i, rate) * 32767)
                wavfile.write(folder / f"{i}.wav", rate, pcm.astype(np.int16))
    return root


def _peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def test_scan_lists_labelled_clips_and_given_splits(tmp_path):
    folder = scan_audio_folder(write_folder(tmp_path / "plain"))
    assert folder.labels == ("high", "low") and not folder.split_given
    assert folder.counts() == {"high": 3, "low": 3} and folder.rates == {16000}
    given = write_folder(tmp_path / "given", splits=("train", "eval"))
    assert has_given_splits(given)
    folder = scan_audio_folder(given)
    assert folder.split_given and folder.labels == ("high", "low")
    assert sorted({split for _, _, split in folder.files}) == ["eval", "train"]


@pytest.mark.parametrize("layout,message", [
    ("missing", "does not exist"),
    ("stray", "holds WAV files directly"),
    ("empty_class", "holds no WAV files"),
    ("split_classes", "different classes"),
    ("not_wav", "Cannot read WAV file"),
])
def test_problems_are_one_line_naming_the_place(tmp_path, layout, message):
    root = tmp_path / "clips"
    if layout == "stray":
        write_folder(root)
        wavfile.write(root / "loose.wav", 16000, np.zeros(10, np.int16))
    elif layout == "empty_class":
        write_folder(root)
        (root / "silence").mkdir()
    elif layout == "split_classes":
        write_folder(root, splits=("train", "eval"))
        (root / "eval" / "low").rename(root / "eval" / "bass")
    elif layout == "not_wav":
        write_folder(root)
        (root / "low" / "broken.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(DlpipeError, match=message) as info:
        scan_audio_folder(root)
    assert "\n" not in str(info.value)


def test_formats_are_decoded_to_mono_float_at_the_configured_rate(tmp_path):
    wave = tone(440.0, 0.5, 22050)
    files = {
        "pcm8": (22050, np.round(wave * 127 + 128).astype(np.uint8)),
        "pcm16": (22050, np.round(wave * 32767).astype(np.int16)),
        "float_stereo": (22050, np.stack([wave, wave], axis=1)),
    }
    for name, (rate, data) in files.items():
        wavfile.write(tmp_path / f"{name}.wav", rate, data)
        clip = load_clip(str(tmp_path / f"{name}.wav"), 16000, 16000)
        assert clip.dtype == np.float32 and clip.shape == (16000,)
        # Resampled to 16 kHz: the tone keeps its pitch and lasts 0.5 s; the rest is silence.
        assert abs(_peak_hz(clip[:8000], 16000) - 440.0) <= 2.0, name
        assert np.abs(clip[8100:]).max() < 0.01 and 0.45 < np.abs(clip[:8000]).max() < 0.55
    assert to_float(np.array([-32768, 0, 32767], np.int16)).tolist() == [-1.0, 0.0,
                                                                          32767 / 32768]
    # Longer clips are cut to the clip length.
    assert load_clip(str(tmp_path / "pcm16.wav"), 16000, 4000).shape == (4000,)


@pytest.mark.e2e
def test_the_component_writes_the_given_splits(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.types import artifact_utils

    from components.audio_folder_example_gen.component import AudioFolderExampleGen
    from dlpipe.examples import feature_values, read_examples, split_files

    root = write_folder(tmp_path / "clips", per_class=2, rate=8000, splits=("train", "eval"))
    gen = AudioFolderExampleGen(input_base=str(root), sample_rate=16000, clip_samples=8000,
                                split_given=True)
    db = str(tmp_path / "mlmd.sqlite")
    LocalDagRunner().run(pipeline.Pipeline(
        pipeline_name="audio_folder", pipeline_root=str(tmp_path / "root"), components=[gen],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(db)))
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(db))
    (artifact,) = store.get_artifacts_by_type("Examples")
    uri = artifact.uri
    assert artifact_utils.decode_split_names(
        artifact.properties["split_names"].string_value) == ["train", "eval"]
    for split in ("train", "eval"):
        examples = list(read_examples(split_files(uri, split)))
        assert len(examples) == 4
        for example in examples:
            samples = np.asarray(feature_values(example, "audio"), np.float32)
            assert samples.shape == (8000,)
            label = feature_values(example, "label")[0]
            assert abs(_peak_hz(samples[:4000], 16000) - (880.0, 220.0)[label]) < 30
    assert (Path(uri) / "labels.txt").read_text().split() == ["high", "low"]
