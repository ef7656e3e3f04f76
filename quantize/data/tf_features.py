"""The front end in TensorFlow, for graphs and tf.data pipelines.

It uses the numpy front end's own mel filterbank and DCT matrices, so the
only differences are floating-point ones; tests/test_frontend_parity.py holds
it to sdk.frontend within 1e-3 on log-mel values.
"""
from __future__ import annotations

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf

from sdk.frontend import FrontEndConfig, dct_matrix, mel_filterbank


def tf_features(samples, *, config: FrontEndConfig):
    """Features of ``samples`` shaped ``(n,)`` or ``(batch, n)`` -> ``(..., frames, num_features)``."""
    samples = tf.convert_to_tensor(samples, tf.float32)
    spectrum = tf.signal.stft(
        samples,
        frame_length=config.window_samples,
        frame_step=config.hop_samples,
        fft_length=config.n_fft,
        window_fn=tf.signal.hann_window,  # periodic, as sdk.frontend
        pad_end=False,
    )
    power = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
    log_mel = tf.math.log(tf.tensordot(power, tf.constant(mel_filterbank(config)), 1) + config.log_floor)
    if config.n_mfcc:
        return tf.tensordot(log_mel, tf.constant(dct_matrix(config.n_mels, config.n_mfcc)), 1)
    return log_mel
