/* libFuzzer target for the C serial decoder (tests/test_fw_fuzz.py builds and runs it).
 *
 * Each input is the inside of one frame (libFuzzer mutates the seed frames);
 * the stream fed byte by byte is 0x00 | input | 0x00 | GOOD frame. Properties,
 * checked against a reference written here independently of auricle_link.c
 * (plain COBS decoding, bitwise CRC-16/CCITT-FALSE):
 *   - every chunk between delimiters gets exactly one verdict;
 *   - a chunk is accepted only if it is a CRC-valid frame by the reference;
 *   - the GOOD frame after it is decoded with its own fields.
 * A failed property aborts, and libFuzzer saves the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auricle_link.h"

static uint16_t ref_crc16(const uint8_t *data, size_t len) {
  uint16_t crc = 0xFFFF;
  for (size_t i = 0; i < len; ++i) {
    crc ^= (uint16_t)(data[i] << 8);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

/* COBS decoding as the paper states it; -1 on a code byte running past the end. */
static long ref_cobs(const uint8_t *src, size_t len, uint8_t *dst) {
  size_t in = 0, out = 0;
  while (in < len) {
    uint8_t code = src[in++];
    if (code == 0 || in + code - 1 > len) return -1;
    for (int i = 1; i < code; ++i) dst[out++] = src[in++];
    if (code < 0xFF && in < len) dst[out++] = 0;
  }
  return (long)out;
}

static int ref_valid(const uint8_t *chunk, size_t len) {
  static uint8_t decoded[8192];
  if (len > AL_MAX_ENCODED) return 0;
  long n = ref_cobs(chunk, len, decoded);
  if (n < AL_HEADER_BYTES + AL_CRC_BYTES || n - AL_CRC_BYTES > AL_MAX_PAYLOAD) return 0;
  uint16_t crc = (uint16_t)(decoded[n - 2] << 8 | decoded[n - 1]);
  return ref_crc16(decoded, (size_t)n - 2) == crc;
}

static size_t total_counts(const al_decoder *d) {
  size_t sum = 0;
  for (int i = 0; i < AL_RESULT_COUNT; ++i) sum += d->counts[i];
  return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static al_decoder decoder;
  al_message message;
  al_decoder_init(&decoder);
  al_decoder_push(&decoder, 0x00, &message);
  size_t chunks = 0, start = 0;
  for (size_t i = 0; i <= size; ++i) {
    uint8_t byte = i < size ? data[i] : 0x00;
    int accepted = al_decoder_push(&decoder, byte, &message);
    if (byte != 0x00) continue;
    size_t len = i - start;
    if (len) ++chunks;
    if (accepted && !ref_valid(data + start, len)) abort(); /* accepted a corrupted frame */
    start = i + 1;
  }
  if (total_counts(&decoder) != chunks) abort(); /* a chunk without exactly one verdict */
  uint8_t payload[AL_MAX_PAYLOAD], frame[AL_MAX_FRAME];
  size_t n = al_frame(payload, al_pack_detection(payload, sizeof(payload), 77, 1, 191, 4242), frame, sizeof(frame));
  int got = 0;
  for (size_t i = 1; i < n; ++i) got += al_decoder_push(&decoder, frame[i], &message);
  if (got != 1 || message.type != AL_DETECTION || message.seq != 77 || message.u.detection.label_index != 1 ||
      message.u.detection.score_u8 != 191 || message.u.detection.timestamp_ms != 4242)
    abort(); /* the next good frame was lost or damaged */
  return 0;
}
