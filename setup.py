"""Auricle: audio recognition on the edge.

One distribution, three packages: ``sdk`` (the on-device runtime, no
TensorFlow), ``quantize`` (training and compression) and ``firmware_bridge``
(TFLite Micro export and the serial link).
"""
import re

from setuptools import find_packages, setup

VERSION = re.search(r"__version__ = \"([^\"]+)\"", open("sdk/__init__.py").read()).group(1)

# The runtime: what a Raspberry Pi installs. Never TensorFlow.
RUNTIME = [
    "numpy>=1.26,<3",
    "ai-edge-litert==2.3.0",
    "soundfile==0.14.0",
    "soxr==1.1.0",
    "typer==0.29.1",
    "rich==15.0.0",
]

# The speech-embedding teacher ships in pyopen-wakeword, whose wheels cover Linux
# (x86-64, aarch64) and Windows, not macOS: elsewhere 'train' installs without it and
# a recipe with a teacher: section says which extra is missing.
TEACHER = ['pyopen-wakeword==1.1.0; sys_platform == "linux" or sys_platform == "win32"']

EXTRAS = {
    "mic": ["sounddevice==0.5.6", "webrtcvad-wheels==2.0.14.post1"],
    "iot": ["paho-mqtt==2.2.0"],
    "mcu": ["tflite-micro==0.dev20261023182759", "pyserial==3.5", "cobs==1.2.2"],
    "wyoming": ["wyoming==1.10.2"],
    "train": [
        "tensorflow==2.21.0",
        "tf-keras==2.21.0",
        "tensorflow-model-optimization==0.8.1",
        "pydantic==2.13.4",
        "PyYAML==6.0.3",
        "matplotlib==3.11.2",
        "pyroomacoustics==0.10.1",
        "scipy==1.17.1",
        *TEACHER,
    ],
    "teacher": TEACHER,
    # Run-time only: an artifact on the speech-embedding front end (a wake word's model_embedding_int8.tflite).
    "embedding": TEACHER,
    # The open wake-word peers, scored side by side in benchmarks/wakeword.py (same platforms as the teacher).
    "bench": [*TEACHER, 'pymicro-wakeword==2.5.0; sys_platform == "linux" or sys_platform == "win32"'],
}
EXTRAS["dev"] = sorted(
    {req for reqs in EXTRAS.values() for req in reqs}
    | {"pytest==9.0.3", "hypothesis==6.155.2", "pytest-timeout==2.4.0"}
)

setup(
    name="auricle",
    version=VERSION,
    description="Audio recognition on the edge: train, compress, quantize and stream keyword spotters",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=["sdk", "firmware_bridge", *find_packages(include=["quantize", "quantize.*"])],
    package_data={
        "sdk": ["py.typed"],
        "quantize": ["recipes/*.yaml", "recipes/*/*.yaml", "recipes/README.md", "assets/*"],
        "firmware_bridge": ["c/*.c", "c/*.h"],
    },
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["auricle = sdk.cli:main"],
        # Commands contributed by the other packages; sdk never imports them.
        "auricle.cli": [
            "train = quantize.cli:register",
            "mcu = firmware_bridge.cli:register",
        ],
    },
)
