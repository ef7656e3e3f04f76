"""The model artifact: round trip, plain-LiteRT compatibility, and every way a file goes bad."""
import json

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from sdk import Bundle, ConfigError, DetectionDefaults, FrontEndConfig, Head, ModelError
from sdk.bundle import METADATA_NAME, _document_digest, _pack, _parse


@pytest.fixture(scope="module")
def tflite(tiny_model_int8):
    return tiny_model_int8[1]


@pytest.fixture(scope="module")
def bundle_path(tiny_model_int8):
    return tiny_model_int8[3]


def test_round_trip_keeps_everything(tflite, tmp_path):
    detection = DetectionDefaults(threshold=0.7, thresholds={"yes": 0.9}, smoothing_s=0.5, refractory_s=2.0)
    made = Bundle.create(
        tflite,
        frontend=FrontEndConfig(),
        heads=[Head("keyword", ("yes", "no", "_silence_"), background=("_silence_",))],
        name="kws",
        detection=detection,
        provenance={"recipe": {"model": "tiny"}, "metrics": {"accuracy": 0.5}},
    )
    made.save(tmp_path / "kws.tflite")
    loaded = Bundle.load(tmp_path / "kws.tflite")
    assert loaded.model == made.model
    assert loaded.labels == ("yes", "no", "_silence_")
    assert loaded.heads[0].background == ("_silence_",)
    assert loaded.frontend == FrontEndConfig()
    assert loaded.detection == detection
    assert loaded.provenance["metrics"] == {"accuracy": 0.5}
    assert loaded.provenance["auricle_version"]
    assert loaded.inputs[0].dtype == "int8" and loaded.inputs[0].quantized


def test_artifact_is_still_a_plain_tflite_model(tflite, bundle_path, tiny_model_int8):
    """LiteRT runs the artifact as it is, with the same outputs as the converter's file."""
    window = tiny_model_int8[2][0]
    outputs = []
    for content in (tflite, bundle_path.read_bytes()):
        interpreter = Interpreter(model_content=content)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        scale, zero = detail["quantization"]
        q = np.clip(np.round(window / scale) + zero, -128, 127).astype(np.int8)
        interpreter.set_tensor(detail["index"], q[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_weight_buffers_stay_16_byte_aligned(bundle_path):
    data = bundle_path.read_bytes()
    model = schema.Model.GetRootAsModel(data, 0)
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))  # byte offset of the data vector
            assert start % 16 == 0, f"buffer {i} starts at {start}"


def test_recreating_replaces_old_metadata(bundle_path):
    first = Bundle.load(bundle_path)
    again = Bundle.create(first.model, frontend=first.frontend, labels=["a", "b", "c"])
    names = [m.name for m in _parse(again.model, "x").metadata]
    assert names.count(METADATA_NAME.encode()) == 1
    assert Bundle.from_bytes(again.model).labels == ("a", "b", "c")


@pytest.mark.parametrize("keep_fraction", [0.0, 0.001, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(bundle_path, tmp_path, keep_fraction):
    data = bundle_path.read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(ModelError, match=r"cut\.tflite: (not a TFLite model|TFLite model is truncated|.*do not match)"):
        Bundle.load(cut)


def flip_bit_in(path, needle: bytes, out, *, offset: int | None = None, mask: int = 0x10):
    """Flip ``mask`` in the byte at ``offset`` (default: the middle) of ``needle``, which must occur once."""
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at > 0 and data.find(needle, at + 1) < 0, "needle must be unique"
    data[at + (len(needle) // 2 if offset is None else offset)] ^= mask
    out.write_bytes(bytes(data))
    return out


def test_flipped_weight_bit_is_caught(bundle_path, tmp_path):
    model = _parse(bundle_path.read_bytes(), "x")
    metadata_index = next(m.buffer for m in model.metadata if m.name == METADATA_NAME.encode())
    weights = max(
        (b for i, b in enumerate(model.buffers) if b.data is not None and i != metadata_index), key=lambda b: len(b.data)
    )
    bad = flip_bit_in(bundle_path, bytes(np.asarray(weights.data, np.uint8)[:32]), tmp_path / "flipped.tflite")
    with pytest.raises(ModelError, match=r"flipped\.tflite: model weights do not match the digest"):
        Bundle.load(bad)


def test_altered_metadata_is_caught(bundle_path, tmp_path):
    """A flipped bit that leaves valid JSON (a threshold 0.8 -> 0.9) is still caught."""
    needle = b'"threshold": 0.8'
    bad = flip_bit_in(bundle_path, needle, tmp_path / "meta.tflite", offset=len(needle) - 1, mask=0x01)  # '8' -> '9'
    original, altered = bundle_path.read_bytes(), bad.read_bytes()
    assert altered == original.replace(needle, b'"threshold": 0.9')
    with pytest.raises(ModelError, match=r"meta\.tflite: Auricle metadata was altered or corrupted"):
        Bundle.load(bad)


def test_not_a_model(tmp_path):
    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100))
    with pytest.raises(ModelError, match=r"clip\.wav: not a TFLite model \(no 'TFL3' identifier"):
        Bundle.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"gone\.tflite: cannot read model file"):
        Bundle.load(tmp_path / "gone.tflite")


def test_plain_tflite_without_metadata(tflite):
    with pytest.raises(ModelError, match="without Auricle metadata"):
        Bundle.from_bytes(tflite, source="plain.tflite")


def test_labels_that_do_not_fit_the_output(tflite):
    with pytest.raises(ModelError, match=r"has 3 scores but head 'output' has 4 labels"):
        Bundle.create(tflite, frontend=FrontEndConfig(), labels=["a", "b", "c", "d"])


def test_front_end_that_does_not_fit_the_input(tflite):
    with pytest.raises(ModelError, match=r"makes 99 frames x 40 features"):
        Bundle.create(tflite, frontend=FrontEndConfig(clip_s=2.0), labels=["a", "b", "c"])


def rewrite_metadata(data: bytes, change) -> bytes:
    model = _parse(data, "x")
    entry = next(m for m in model.metadata if m.name == METADATA_NAME.encode())
    document = json.loads(bytes(model.buffers[entry.buffer].data).decode())
    raw = change(document)
    payload = raw if isinstance(raw, bytes) else json.dumps(document).encode()
    model.buffers[entry.buffer].data = np.frombuffer(payload, np.uint8)
    return _pack(model)


def test_newer_format_version_says_upgrade(bundle_path):
    def newer(document):
        document["format_version"] = 99
        document["metadata_sha256"] = _document_digest(document)

    data = rewrite_metadata(bundle_path.read_bytes(), newer)
    with pytest.raises(ModelError, match="format_version 99 is newer.*upgrade auricle"):
        Bundle.from_bytes(data, source="new.tflite")


def test_corrupted_metadata_json(bundle_path):
    data = rewrite_metadata(bundle_path.read_bytes(), lambda d: b"{not json")
    with pytest.raises(ModelError, match=r"meta\.tflite: Auricle metadata is corrupted"):
        Bundle.from_bytes(data, source="meta.tflite")


def test_metadata_with_bad_front_end(bundle_path):
    def bad_hop(document):
        document["frontend"]["hop_ms"] = 0
        document["metadata_sha256"] = _document_digest(document)

    data = rewrite_metadata(bundle_path.read_bytes(), bad_hop)
    with pytest.raises(ModelError, match=r"incomplete or invalid.*hop_ms=0 must be positive"):
        Bundle.from_bytes(data, source="fe.tflite")


def test_create_needs_labels_or_heads(tflite):
    with pytest.raises(ConfigError, match="either labels"):
        Bundle.create(tflite, frontend=FrontEndConfig())


def test_head_validation():
    with pytest.raises(ConfigError, match="labels repeat"):
        Head("h", ("a", "a"))
    with pytest.raises(ConfigError, match=r"background labels \['z'\] are not among its labels"):
        Head("h", ("a",), background=("z",))
