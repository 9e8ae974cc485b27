"""The audio kind's front end: a log-mel spectrogram computed in the graph from raw samples.

Training (the Transform), serving (every signature) and the edge files run this one function,
so clients send waveforms and all three hear them the same way. The short-time Fourier
transform is written as one matrix product per frame (the windowed DFT's cosine and sine
rows as constants) rather than ``tf.signal.stft``: it gives the same magnitudes (checked
against ``tf.signal.stft`` in the tests) with ops that every converter takes (TFLite
builtins, ONNX with a dynamic batch, dynamic-range quantization), where the converters'
FFT and complex-number support stops short (tf2onnx's RFFT needs a fixed batch size,
ONNX Runtime has no ComplexAbs kernel).

The recipe, in numbers (also written into the edge ``metadata.json``): samples divided by
the data's full scale (to [-1, 1]), padded with zeros at the end or cut to the clip length;
frames of 30 ms every 10 ms (480 and 160 samples at 16 kHz) under a periodic Hann window;
the magnitude of the 512-point (next power of two) DFT of each frame; 40 mel bands from
20 Hz to 7.6 kHz (HTK mel scale, triangular, as ``tf.signal.linear_to_mel_weight_matrix``);
``log(mel + 1e-6)``.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

FRAME_SECONDS = 0.030
STEP_SECONDS = 0.010
MEL_BINS = 40
LOWER_HZ, UPPER_HZ = 20.0, 7600.0
LOG_OFFSET = 1e-6


def frame_length(sample_rate: int) -> int:
    return int(round(FRAME_SECONDS * sample_rate))


def frame_step(sample_rate: int) -> int:
    return int(round(STEP_SECONDS * sample_rate))


def fft_length(sample_rate: int) -> int:
    return 2 ** math.ceil(math.log2(frame_length(sample_rate)))


def spectrogram_shape(samples: int, sample_rate: int) -> tuple[int, int]:
    """``(frames, mel bins)`` of a clip of ``samples``."""
    frames = 1 + max(0, samples - frame_length(sample_rate)) // frame_step(sample_rate)
    return frames, MEL_BINS


def recipe(samples: int, sample_rate: int, scale: float) -> str:
    """The front end in words, with this task's numbers."""
    frames, mels = spectrogram_shape(samples, sample_rate)
    return (f"{samples} samples at {sample_rate} Hz divided by {scale:g} (full scale), padded "
            f"with zeros or cut; frames of {frame_length(sample_rate)} samples every "
            f"{frame_step(sample_rate)} under a periodic Hann window; magnitude of a "
            f"{fft_length(sample_rate)}-point real FFT; {mels} mel bands {LOWER_HZ:g}-"
            f"{UPPER_HZ:g} Hz (HTK); log(mel + {LOG_OFFSET:g}): [{frames}, {mels}]")


def fix_length(samples: tf.Tensor, length: int) -> tf.Tensor:
    """``[batch, n]`` -> ``[batch, length]``: zeros appended, or the end cut."""
    samples = samples[:, :length]
    missing = length - tf.shape(samples)[1]
    return tf.reshape(tf.pad(samples, [[0, 0], [0, missing]]), [-1, length])


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """The HTK mel scale."""
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_weights(sample_rate: int) -> np.ndarray:
    """``[fft_length // 2 + 1, MEL_BINS]`` triangular filters (the DC bin weighs nothing), as
    ``tf.signal.linear_to_mel_weight_matrix`` computes them."""
    bins = fft_length(sample_rate) // 2 + 1
    upper = min(UPPER_HZ, sample_rate / 2)
    mels = hz_to_mel(np.linspace(0.0, sample_rate / 2, bins)[1:])[:, None]
    edges = np.linspace(hz_to_mel(LOWER_HZ), hz_to_mel(upper), MEL_BINS + 2)
    lower, center, top = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((mels - lower) / (center - lower),
                                         (top - mels) / (top - center)))
    return np.pad(weights, [[1, 0], [0, 0]]).astype(np.float32)


def dft_weights(sample_rate: int) -> np.ndarray:
    """``[frame_length, 2 * bins]``: the periodic-Hann-windowed real DFT of a frame zero-padded
    to ``fft_length``, cosine (real part) columns then sine (imaginary part) columns."""
    n_frame, n_fft = frame_length(sample_rate), fft_length(sample_rate)
    n = np.arange(n_frame)[:, None]
    k = np.arange(n_fft // 2 + 1)[None, :]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_frame) / n_frame)
    angle = 2.0 * np.pi * n * k / n_fft
    return np.concatenate([window[:, None] * np.cos(angle),
                           -window[:, None] * np.sin(angle)], axis=1).astype(np.float32)


def log_mel(samples: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """``[batch, samples]`` float32 in [-1, 1] -> log-mel ``[batch, frames, MEL_BINS]``."""
    n_frame, step = frame_length(sample_rate), frame_step(sample_rate)
    frames = tf.signal.frame(samples, n_frame, step)  # [batch, frames, frame_length]
    count = tf.shape(frames)[1]
    dft = tf.matmul(tf.reshape(frames, [-1, n_frame]), tf.constant(dft_weights(sample_rate)))
    real, imag = tf.split(dft, 2, axis=1)
    magnitude = tf.sqrt(tf.square(real) + tf.square(imag))
    mel = tf.matmul(magnitude, tf.constant(mel_weights(sample_rate)))
    return tf.reshape(tf.math.log(mel + LOG_OFFSET), [-1, count, MEL_BINS])


def front_end(samples: tf.Tensor, samples_per_clip: int, sample_rate: int,
              scale: float) -> tf.Tensor:
    """Raw samples in the data's units ``[batch, n]`` -> ``[batch, frames, mels, 1]``."""
    clip = fix_length(tf.cast(samples, tf.float32) / scale, samples_per_clip)
    return log_mel(clip, sample_rate)[..., None]
