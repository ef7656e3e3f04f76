"""Auricle training side: data, models, training, compression and int8 export.

tensorflow-model-optimization works only with Keras 2, so ``tf_keras`` is used
throughout, and TensorFlow must see ``TF_USE_LEGACY_KERAS=1`` before its first
import; this package sets it.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
