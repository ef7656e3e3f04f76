"""The model artifact: one ``.tflite`` file that carries everything to run it.

Auricle's metadata (labels, front end, detection defaults, provenance) is a
JSON document stored in the TFLite flatbuffer's own ``metadata`` list under
the name ``auricle``, so the file stays a valid model for plain LiteRT or
TFLite Micro. Loading checks that the file is a complete flatbuffer, that its
weights match the digest written at creation (bit rot, truncation, a model
swapped in by hand), and that labels and front end fit the model's tensors.
"""
from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from sdk import __version__
from sdk.errors import ConfigError, ModelError
from sdk.frontend import FrontEndConfig

METADATA_NAME = "auricle"
FORMAT = "auricle.bundle"
FORMAT_VERSION = 1
_TFLITE_IDENTIFIER = b"TFL3"
_BUFFER_ALIGNMENT = 16  # what the TFLite converter uses; TFLM reads weights in place

_TENSOR_TYPES = {
    schema.TensorType.FLOAT32: "float32",
    schema.TensorType.FLOAT16: "float16",
    schema.TensorType.INT8: "int8",
    schema.TensorType.UINT8: "uint8",
    schema.TensorType.INT16: "int16",
    schema.TensorType.INT32: "int32",
}


@dataclass(frozen=True)
class Head:
    """One model output: its name and the label of each of its scores."""

    name: str
    labels: tuple[str, ...]
    background: tuple[str, ...] = ()  # labels that are never reported as detections

    def __post_init__(self):
        if not self.labels:
            raise ConfigError(f"head {self.name!r}: needs at least one label")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"head {self.name!r}: labels repeat: {list(self.labels)}")
        missing = sorted(set(self.background) - set(self.labels))
        if missing:
            raise ConfigError(f"head {self.name!r}: background labels {missing} are not among its labels")


@dataclass(frozen=True)
class DetectionDefaults:
    """How a stream turns posteriors into events, unless the user overrides it."""

    threshold: float = 0.8
    thresholds: dict = field(default_factory=dict)  # per label, overrides threshold
    smoothing_s: float = 0.3  # mean of posteriors over this trailing window
    refractory_s: float = 1.0  # no second event for a label within this time
    min_count: int = 2  # inferences above threshold before an event
    hop_s: float = 0.1  # time between inferences


@dataclass(frozen=True)
class TensorInfo:
    """Shape, type and affine quantization of a model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.dtype in ("int8", "uint8", "int16") and self.scale > 0


@dataclass(frozen=True)
class Bundle:
    """A model and its metadata. ``Bundle.load(path)`` is the usual way in."""

    model: bytes
    frontend: FrontEndConfig
    heads: tuple[Head, ...]
    name: str = "model"
    task: str = "keyword_spotting"
    aggregate: str = "peak"  # over windows of a long clip: "peak" (keywords) or "mean" (scenes, emotion)
    detection: DetectionDefaults = DetectionDefaults()
    provenance: dict = field(default_factory=dict)
    source: str = "<memory>"
    # A streaming-aware model (quantize.export.streaming): frames_per_step, frames_input, scores_output and
    # states [{input, output}] by signature name. Empty for an ordinary whole-window model.
    streaming: dict = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.heads[0].labels

    @functools.cached_property
    def _graph_tensors(self) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
        # One parse of the flatbuffer (it unpacks every weight buffer) for both lists.
        model = _parse(self.model, self.source)
        return _tensor_infos(model, "inputs"), _tensor_infos(model, "outputs")

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return self._graph_tensors[0]

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._graph_tensors[1]

    @classmethod
    def create(
        cls,
        tflite_model: bytes,
        *,
        frontend: FrontEndConfig,
        labels=None,
        heads=None,
        name: str = "model",
        task: str = "keyword_spotting",
        aggregate: str = "peak",
        detection: DetectionDefaults | None = None,
        provenance: dict | None = None,
        streaming: dict | None = None,
    ) -> "Bundle":
        """Embed metadata into a TFLite model (from the converter) and check the fit."""
        if (labels is None) == (heads is None):
            raise ConfigError("Bundle.create: give either labels (one output) or heads (several)")
        heads = (Head("output", tuple(labels)),) if heads is None else tuple(heads)
        provenance = {
            "auricle_version": __version__,
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **(provenance or {}),
        }
        model = _parse(bytes(tflite_model), "model")
        model.metadata = [m for m in (model.metadata or []) if _metadata_name(m) != METADATA_NAME]
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "task": task,
            "aggregate": aggregate,
            "heads": [asdict(h) for h in heads],
            "frontend": frontend.to_dict(),
            "detection": asdict(detection or DetectionDefaults()),
            "weights_sha256": _weights_digest(model, skip=None),
            "provenance": provenance,
        }
        if streaming:
            document["streaming"] = dict(streaming)
        document["metadata_sha256"] = _document_digest(document)
        model.buffers.append(schema.BufferT())
        model.buffers[-1].data = np.frombuffer(json.dumps(document, sort_keys=True).encode(), np.uint8)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
        model.metadata.append(entry)
        return cls._from_document(_pack(model), document, source=name)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Bundle":
        """Read and validate an artifact; ``ModelError`` names the file and the fault."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ModelError(f"{name}: cannot read model file ({exc.strerror})") from None
        return cls.from_bytes(data, source=name)

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> "Bundle":
        model = _parse(data, source)
        index = next((m.buffer for m in (model.metadata or []) if _metadata_name(m) == METADATA_NAME), None)
        if index is None:
            raise ModelError(
                f"{source}: a TFLite model without Auricle metadata (labels, front end); "
                "make an artifact with sdk.Bundle.create or `auricle train`"
            )
        try:
            document = json.loads(bytes(model.buffers[index].data).decode())
        except (IndexError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{source}: Auricle metadata is corrupted ({exc})") from None
        if document.get("format") != FORMAT:
            raise ModelError(f"{source}: metadata format {document.get('format')!r} is not {FORMAT!r}")
        if document.get("format_version", 0) > FORMAT_VERSION:
            raise ModelError(
                f"{source}: format_version {document['format_version']} is newer than this Auricle "
                f"({__version__}) reads ({FORMAT_VERSION}); upgrade auricle"
            )
        if document.get("metadata_sha256") != _document_digest(document):
            raise ModelError(f"{source}: Auricle metadata was altered or corrupted (its digest does not match)")
        digest = _weights_digest(model, skip=index)
        if digest != document.get("weights_sha256"):
            raise ModelError(
                f"{source}: model weights do not match the digest stored at creation "
                "(file corrupted, or the .tflite was replaced after the metadata was written)"
            )
        return cls._from_document(bytes(data), document, source=source)

    @classmethod
    def _from_document(cls, data: bytes, document: dict, *, source: str) -> "Bundle":
        try:
            bundle = cls(
                model=data,
                frontend=FrontEndConfig.from_dict(document["frontend"]),
                heads=tuple(
                    Head(h["name"], tuple(h["labels"]), tuple(h.get("background", ()))) for h in document["heads"]
                ),
                name=document.get("name", "model"),
                task=document.get("task", "keyword_spotting"),
                aggregate=document.get("aggregate", "peak"),
                detection=DetectionDefaults(**document.get("detection", {})),
                provenance=document.get("provenance", {}),
                streaming=document.get("streaming", {}),
                source=source,
            )
        except (KeyError, TypeError, ConfigError) as exc:
            raise ModelError(f"{source}: Auricle metadata is incomplete or invalid ({exc})") from None
        bundle._check_fit()
        return bundle

    def _check_fit(self) -> None:
        """Labels and front end must match the tensors, or the model is the wrong one."""
        if self.streaming:
            self._check_streaming_fit()
            return
        inputs, outputs = self.inputs, self.outputs
        if len(inputs) != 1:
            raise ModelError(f"{self.source}: model has {len(inputs)} inputs; Auricle runs models with one")
        expected = self.frontend.clip_frames * self.frontend.num_features
        got = int(np.prod(inputs[0].shape[1:]))
        if got != expected:
            raise ModelError(
                f"{self.source}: model input {list(inputs[0].shape)} holds {got} values, but the front end "
                f"makes {self.frontend.clip_frames} frames x {self.frontend.num_features} features = {expected}"
            )
        if len(outputs) != len(self.heads):
            raise ModelError(f"{self.source}: model has {len(outputs)} outputs but metadata names {len(self.heads)} heads")
        for head, out in zip(self.heads, outputs):
            if out.shape[-1] != len(head.labels):
                raise ModelError(
                    f"{self.source}: output {out.name!r} has {out.shape[-1]} scores but head {head.name!r} "
                    f"has {len(head.labels)} labels"
                )

    def signature_tensors(self) -> dict:
        """``{"inputs": {name: TensorInfo}, "outputs": {...}}`` of the first signature (streaming models)."""
        model = _parse(self.model, self.source)
        if not model.signatureDefs:
            raise ModelError(f"{self.source}: streaming model has no signature (convert it with quantize.export.streaming)")
        graph = model.subgraphs[0]
        result = {}
        for which, maps in (("inputs", model.signatureDefs[0].inputs), ("outputs", model.signatureDefs[0].outputs)):
            infos = {}
            for entry in maps or []:
                name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
                tensor = graph.tensors[entry.tensorIndex]
                info = _tensor_info(tensor)
                infos[name] = info
            result[which] = infos
        return result

    def _check_streaming_fit(self) -> None:
        spec = self.streaming
        try:
            step = int(spec["frames_per_step"])
            names = (spec["frames_input"], spec["scores_output"], [(s["input"], s["output"]) for s in spec["states"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.source}: streaming metadata is incomplete ({exc!r})") from None
        frames_input, scores_output, states = names
        tensors = self.signature_tensors()
        expected_in = {frames_input, *(i for i, _ in states)}
        expected_out = {scores_output, *(o for _, o in states)}
        if set(tensors["inputs"]) != expected_in or set(tensors["outputs"]) != expected_out:
            raise ModelError(
                f"{self.source}: streaming model tensors {sorted(tensors['inputs'])} -> {sorted(tensors['outputs'])} "
                f"do not match its metadata {sorted(expected_in)} -> {sorted(expected_out)}"
            )
        got = int(np.prod(tensors["inputs"][frames_input].shape[1:]))
        if got != step * self.frontend.num_features:
            raise ModelError(
                f"{self.source}: streaming input holds {got} values, expected frames_per_step={step} x "
                f"{self.frontend.num_features} features"
            )
        if len(self.heads) != 1 or tensors["outputs"][scores_output].shape[-1] != len(self.heads[0].labels):
            raise ModelError(f"{self.source}: streaming scores do not match head {self.heads[0].name!r}'s labels")
        for state_in, state_out in states:
            if tensors["inputs"][state_in].shape != tensors["outputs"][state_out].shape:
                raise ModelError(f"{self.source}: state {state_in!r} and {state_out!r} differ in shape")

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "wb") as f:
            f.write(self.model)

    def describe(self) -> dict:
        """What the artifact holds, as plain data (``auricle inspect``)."""
        return {
            "source": self.source,
            "name": self.name,
            "task": self.task,
            "model_bytes": len(self.model),
            "heads": [asdict(h) for h in self.heads],
            "frontend": self.frontend.to_dict(),
            "inputs": [asdict(t) for t in self.inputs],
            "outputs": [asdict(t) for t in self.outputs],
            "aggregate": self.aggregate,
            "detection": asdict(self.detection),
            "provenance": self.provenance,
            "streaming": self.streaming,
        }


def strip_metadata(model: bytes, *, source: str = "model") -> bytes:
    """The model without Auricle's JSON metadata (its buffer emptied, its entry removed).

    Other metadata (the converter's ``min_runtime_version`` etc.) stays. The
    buffer is emptied rather than deleted so every other buffer index holds.
    """
    parsed = _parse(model, source)
    kept = []
    for entry in parsed.metadata or []:
        if _metadata_name(entry) == METADATA_NAME:
            parsed.buffers[entry.buffer].data = None
        else:
            kept.append(entry)
    parsed.metadata = kept or None
    return _pack(parsed)


def _metadata_name(entry) -> str:
    name = entry.name
    return name.decode() if isinstance(name, bytes) else (name or "")


def _parse(data: bytes, source: str):
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(f"{source}: not a TFLite model (no 'TFL3' identifier; {len(data)} bytes)")
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        _ = [len(b.data) for b in model.buffers if b.data is not None]  # touch every buffer
    except Exception as exc:  # flatbuffers reports truncation as struct/Index errors
        raise ModelError(f"{source}: TFLite model is truncated or corrupted ({type(exc).__name__}: {exc})") from None
    if not model.subgraphs:
        raise ModelError(f"{source}: TFLite model has no subgraphs")
    return model


def _weights_digest(model, *, skip: int | None) -> str:
    digest = hashlib.sha256()
    for i, buffer in enumerate(model.buffers):
        if i != skip and buffer.data is not None:
            digest.update(np.asarray(buffer.data, np.uint8).tobytes())
    return digest.hexdigest()


def _document_digest(document: dict) -> str:
    body = {k: v for k, v in document.items() if k != "metadata_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _tensor_info(tensor) -> TensorInfo:
    q = tensor.quantization
    scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0
    zero = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
    return TensorInfo(name, shape, _TENSOR_TYPES.get(tensor.type, f"type{tensor.type}"), scale, zero)


def _tensor_infos(model, which: str) -> tuple[TensorInfo, ...]:
    graph = model.subgraphs[0]
    indices = [int(i) for i in getattr(graph, which)]
    # sdk.engine.Engine returns outputs sorted by tensor index (the converter's own order for
    # Keras outputs: alphabetical by output name), not in the subgraph's list order, which can
    # differ for several outputs; heads must be matched in the order the Engine returns them.
    if which == "outputs":
        indices = sorted(indices)
    return tuple(_tensor_info(graph.tensors[index]) for index in indices)


class _AlignedBuffer(schema.BufferT):
    """A BufferT whose bytes start on a 16-byte boundary, as the converter writes them."""

    def Pack(self, builder):
        data = None
        if self.data is not None and len(self.data):
            payload = np.asarray(self.data, np.uint8).tobytes()
            builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def _pack(model) -> bytes:
    for buffer in model.buffers:
        buffer.__class__ = _AlignedBuffer
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())
