"""Weight clustering (tfmot): each kernel keeps only ``k`` distinct values.

A k-means codebook per layer (k-means++ initialization) replaces every weight
by its nearest centroid; fine-tuning moves the centroids; ``strip_clustering``
leaves a plain model whose kernels hold at most ``k`` unique values. The
file is no smaller as ``.tflite`` (values are still stored one by one), but
it compresses well (gzip), and an int8 model keeps the sharing when
converted from a cluster-preserving QAT (:mod:`quantize.compress.qat`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from quantize.train.fit import Arrays, FitPlan, fit
from quantize.compress.prune import PRUNABLE, copy_model, kernel_of, resolve_exclusions, weighted_layers
from sdk.errors import ConfigError


@dataclass(frozen=True)
class ClusterConfig:
    clusters: int = 16
    per_layer: dict = field(default_factory=dict)  # layer name -> number of clusters
    exclude: tuple[str, ...] = ("first",)
    fit: FitPlan | None = field(default_factory=lambda: FitPlan(epochs=3, lr=2e-4))  # None: no fine-tuning

    def __post_init__(self):
        for name, k in {"clusters": self.clusters, **self.per_layer}.items():
            if not isinstance(k, (int, np.integer)) or k < 2:
                raise ConfigError(f"cluster: {name}={k!r} clusters must be an integer >= 2")


def unique_values_by_layer(model) -> dict[str, int]:
    """Distinct kernel values per conv/dense layer."""
    return {layer.name: int(np.unique(kernel_of(layer)).size) for layer in weighted_layers(model)}


def cluster(model, data: Arrays | None, config: ClusterConfig = ClusterConfig(), *, verbose: int = 0):
    """Cluster every conv/dense kernel not excluded; fine-tune; strip. Returns ``(model, info)``."""
    excluded = resolve_exclusions(model, config.exclude)
    names = {layer.name for layer in weighted_layers(model)}
    unknown = sorted(set(config.per_layer) - names)
    if unknown:
        raise ConfigError(f"cluster: per_layer names {unknown} are not conv/dense layers; those are {sorted(names)}")
    init = tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS
    counts = {}

    def wrap(layer):  # wraps the copy's own layer, so its trained weights come along
        if isinstance(layer, PRUNABLE) and layer.name not in excluded:
            k = int(config.per_layer.get(layer.name, config.clusters))
            k = min(k, int(kernel_of(layer).size))
            counts[layer.name] = k
            return tfmot.clustering.keras.cluster_weights(layer, number_of_clusters=k, cluster_centroids_init=init)
        return layer

    clustered = keras.models.clone_model(copy_model(model), clone_function=wrap)
    best_epoch = None
    if data is not None and config.fit is not None:
        _, history = fit(clustered, data, config.fit, label="epochs (cluster)", verbose=verbose)
        best_epoch = history["best_epoch"]
    stripped = tfmot.clustering.keras.strip_clustering(clustered)
    info = {"clusters_by_layer": counts, "excluded_layers": sorted(excluded),
            "unique_values_by_layer": unique_values_by_layer(stripped), "best_epoch": best_epoch}
    return stripped, info
