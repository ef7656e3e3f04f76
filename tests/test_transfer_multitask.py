"""Multi-task models: uncertainty weights, and one artifact whose heads keep their order."""
import json

import numpy as np
import pytest
import soundfile

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from conftest import tone  # noqa: E402
from quantize.transfer import multitask  # noqa: E402
from quantize.transfer.backbone import build_trunk  # noqa: E402
from quantize.export.int8 import to_tflite  # noqa: E402
from sdk.bundle import Bundle, Head  # noqa: E402
from sdk.cli import main  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.errors import ConfigError, ModelError  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402


def test_uncertainty_weighting_enters_the_loss_as_documented():
    layer = multitask.UncertaintyWeighting(2)
    assert [v.name for v in layer.trainable_variables] and layer.trainable_variables[0].shape == (2,)
    layer.log_vars.assign([0.5, -1.0])
    total = float(layer([tf.constant(2.0), tf.constant(3.0)]))
    assert total == pytest.approx(np.exp(-0.5) * 2 + 0.25 + np.exp(1.0) * 3 - 0.5, rel=1e-6)
    assert layer.weights_now() == pytest.approx([np.exp(-0.5), np.exp(1.0)])


def test_uncertainty_weights_are_learned_and_unlabelled_examples_are_ignored():
    rng = np.random.default_rng(0)
    x = rng.normal(-6, 4, (32, 49, 40)).astype(np.float32)
    model = multitask.build(build_trunk((49, 40), filters=8, blocks=1), [("a", 3), ("b", 2)])
    y_b = rng.integers(0, 2, 32)
    y_b[:16] = -1  # no label for head b on half the examples
    log = multitask.train(model, x, [rng.integers(0, 3, 32), y_b], weighting="uncertainty", epochs=3, batch_size=8, lr=1e-2)
    assert np.all(np.abs(log["log_vars"]) > 1e-3)  # moved from their initial 0
    assert np.isfinite(log["epochs"][-1]["total"])
    ce = multitask.masked_ce(tf.constant([-1, 1]), tf.constant([[0.9, 0.1], [0.2, 0.8]]))
    assert float(ce) == pytest.approx(-np.log(0.8), rel=1e-5)  # the -1 row is left out
    with pytest.raises(ConfigError, match="2 label arrays for 3 heads|label arrays for 2 heads"):
        multitask.train(model, x, [y_b], epochs=1)


@pytest.fixture(scope="module")
def two_head_bundle(tmp_path_factory):
    """Heads named so that creation order (zeta, alpha) is not alphabetical order."""
    tf.random.set_seed(0)
    fe = FrontEndConfig()
    model = multitask.build(build_trunk((49, 40), filters=8, blocks=1), [("zeta", 3), ("alpha", 5)], dropout=0)
    rng = np.random.default_rng(0)
    model.get_layer("out01_alpha").set_weights([rng.normal(0, 2, (8, 5)).astype(np.float32), np.zeros(5, np.float32)])
    calibration = rng.normal(-6, 4, (48, 49, 40)).astype(np.float32)
    heads = [Head("zeta", ("z0", "z1", "z2")), Head("alpha", ("a0", "a1", "a2", "a3", "a4"))]
    bundle = multitask.export(model, heads, frontend=fe, calibration=calibration, name="two_heads")
    path = tmp_path_factory.mktemp("mt") / "two_heads.tflite"
    bundle.save(path)
    return model, calibration, path


def test_multi_head_artifact_round_trips_with_heads_in_order(two_head_bundle):
    model, calibration, path = two_head_bundle
    bundle = Bundle.load(path)
    assert [h.name for h in bundle.heads] == ["zeta", "alpha"]
    assert [t.shape[-1] for t in bundle.outputs] == [3, 5]
    assert all(t.dtype == "int8" for t in bundle.outputs)
    got = Engine(bundle).predict_batch(calibration[:16])
    want = model.predict(calibration[:16], verbose=0)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.abs(g - w).max() < 0.1  # int8 vs float, same head


def test_conversion_reorders_outputs_by_name_and_the_check_catches_it():
    i = keras.Input((49, 40))
    h = keras.layers.GlobalAveragePooling1D()(i)
    model = keras.Model(i, [keras.layers.Dense(n, activation="softmax", name=name)(h) for name, n in (("zeta", 3), ("alpha", 5))])
    tflite = to_tflite(model, mode="float32")
    assert [o.shape[-1] for o in Bundle.create(tflite, frontend=FrontEndConfig(), heads=[
        Head("alpha", tuple("abcde")), Head("zeta", tuple("xyz"))]).outputs] == [5, 3]  # alphabetical, not model order
    with pytest.raises(ModelError, match="TFLite output 0 matches Keras output 1"):
        multitask.check_output_order(model, tflite, np.random.default_rng(0).normal(-6, 4, (4, 49, 40)).astype(np.float32))


def test_classify_prints_every_head(two_head_bundle, tmp_path, capsys):
    _, _, path = two_head_bundle
    soundfile.write(tmp_path / "tone.wav", tone(440, 2.0), 16000)
    assert main(["classify", str(path), str(tmp_path / "tone.wav")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split("\t")[1] in ("z0", "z1", "z2")
    assert lines[1].split("\t")[1:3][0] == "[alpha]" and lines[1].split("\t")[2] in ("a0", "a1", "a2", "a3", "a4")
    assert main(["classify", str(path), str(tmp_path / "tone.wav"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert list(record["scores"]) == ["zeta", "alpha"]


def test_head_labels_that_do_not_fit_the_outputs_are_refused(two_head_bundle):
    model, calibration, _ = two_head_bundle
    with pytest.raises(ConfigError, match="head 1 'alpha' has 2 labels but output 'out01_alpha' has 5 scores"):
        multitask.export(model, [Head("zeta", ("a", "b", "c")), Head("alpha", ("x", "y"))],
                         frontend=FrontEndConfig(), calibration=calibration)
    with pytest.raises(ConfigError, match="1 heads for a model with 2 outputs"):
        multitask.export(model, [Head("zeta", ("a", "b", "c"))], frontend=FrontEndConfig(), calibration=calibration)
