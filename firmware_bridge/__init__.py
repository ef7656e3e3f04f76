"""Auricle for microcontrollers: TFLite Micro export and the serial link.

- ``export.export(bundle, out_dir)`` / ``auricle export-mcu``: C/C++ sources
  (model array, config header, op resolver, measured arena) checked under the
  TFLM interpreter by ``verify.verify``.
- ``protocol`` + ``framing``: the COBS/CRC-16 serial protocol; ``serial_link.SerialLink``
  turns a device's frames into ``sdk.events.Detection`` objects.
- ``C_SOURCES_DIR``: C99 device code shipped with the package: ``auricle_link.c/.h``
  (the same protocol) and ``auricle_frontend.c/.h`` (the same features as sdk.frontend).
"""
import pathlib

C_SOURCES_DIR = pathlib.Path(__file__).resolve().parent / "c"
