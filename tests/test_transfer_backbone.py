"""The backbone that ships in quantize/assets."""
import numpy as np
import pytest

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")


from quantize.transfer import backbone  # noqa: E402
from sdk.errors import ConfigError, ModelError  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402


def test_shipped_backbone_loads_and_embeds_to_the_documented_size():
    assert backbone.DEFAULT_PATH.is_file()
    assert backbone.DEFAULT_PATH.stat().st_size < 1_000_000
    trunk = backbone.load_backbone()
    x = np.random.default_rng(0).normal(-6, 4, (3, 49, 40)).astype(np.float32)
    e = backbone.embed(x, trunk)
    assert e.shape == (3, backbone.EMBEDDING_DIM) == (3, 64)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)  # ReLU then average
    assert e.std(axis=0).max() > 0  # different windows, different embeddings
    info = backbone.backbone_info()
    assert FrontEndConfig.from_dict(info["frontend"]) == FrontEndConfig()
    assert info["training"]["embedding_dim"] == 64 and info["training"]["params"] == trunk.count_params()
    assert backbone.stages(trunk) == ["stem", "block1", "block2", "block3", "block4"]


def test_missing_or_corrupt_backbone_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="nothere.h5: backbone file does not exist"):
        backbone.load_backbone(tmp_path / "nothere.h5")
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelError, match="corrupt.h5: not an Auricle backbone"):
        backbone.load_backbone(corrupt)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(backbone.DEFAULT_PATH.read_bytes()[:50_000])
    with pytest.raises(ModelError, match="truncated.h5"):
        backbone.load_backbone(truncated)


def test_a_different_front_end_is_refused():
    with pytest.raises(ConfigError, match="backbone was trained on front end"):
        backbone.load_backbone(frontend=FrontEndConfig(n_mels=32))


def test_save_and_reload_round_trips(tmp_path):
    trunk = backbone.build_trunk((49, 40), filters=8, blocks=1)
    path = tmp_path / "b.h5"
    backbone.save_backbone(trunk, path, frontend=FrontEndConfig(), training={"note": "test"})
    again = backbone.load_backbone(path)
    x = np.random.default_rng(1).normal(-6, 4, (2, 49, 40)).astype(np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), trunk.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert backbone.backbone_info(path)["training"] == {"note": "test"}
