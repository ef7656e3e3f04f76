/* Auricle serial link: the device side of firmware_bridge/protocol.py, in C99.
 *
 * Frame on the wire:  0x00 | COBS(payload | CRC-16/CCITT-FALSE, big-endian) | 0x00
 * Payload:            version u8 | type u8 | seq u16 LE | body (see protocol.py
 *                     or docs/serial-protocol.md for each type's body)
 *
 * No dynamic allocation: every function writes into buffers the caller
 * provides, and the streaming decoder is a plain struct (about 1 KB) the
 * caller owns. Pointers inside a parsed al_message point into the payload (or
 * the decoder) they were parsed from and stay valid until it changes.
 */
#ifndef AURICLE_LINK_H_
#define AURICLE_LINK_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AL_PROTOCOL_VERSION 1
#define AL_MAX_PAYLOAD 512 /* header + body */
#define AL_HEADER_BYTES 4
#define AL_CRC_BYTES 2
/* Longest COBS chunk (without delimiters) of a maximal payload plus CRC. */
#define AL_MAX_ENCODED \
  (AL_MAX_PAYLOAD + AL_CRC_BYTES + (AL_MAX_PAYLOAD + AL_CRC_BYTES) / 254 + 1)
#define AL_MAX_FRAME (AL_MAX_ENCODED + 2) /* with both 0x00 delimiters */
#define AL_MAX_AUDIO_SAMPLES 252
#define AL_MAX_ERROR_TEXT 64

typedef enum {
  AL_HELLO = 0x01,
  AL_HEARTBEAT = 0x02,
  AL_DETECTION = 0x03,
  AL_AUDIO_CHUNK = 0x04,
  AL_ACK = 0x05,
  AL_ERROR = 0x06
} al_type;

/* Outcome of parsing a chunk; the decoder counts each one. */
typedef enum {
  AL_OK = 0,
  AL_REJECT_OVERSIZE,     /* too long without a 0x00, or payload over AL_MAX_PAYLOAD */
  AL_REJECT_GARBAGE,      /* does not start like a frame */
  AL_REJECT_TRUNCATED,    /* starts like a frame, ends early (or shorter than its type allows) */
  AL_REJECT_BAD_CRC,      /* complete, CRC mismatch */
  AL_REJECT_VERSION,      /* CRC fine, other protocol version */
  AL_REJECT_UNKNOWN_TYPE, /* CRC fine, unknown message type */
  AL_REJECT_MALFORMED,    /* CRC fine, body does not fit its type */
  AL_RESULT_COUNT
} al_result;

typedef struct {
  uint8_t version;
  uint8_t type;
  uint16_t seq;
  union {
    struct {
      uint32_t labels_hash;
      uint8_t label_count;
      uint8_t name_len;
      const uint8_t *name;   /* not NUL-terminated */
      const uint8_t *labels; /* label_count x (len u8 | bytes) */
      size_t labels_bytes;
    } hello;
    struct {
      uint32_t uptime_ms;
    } heartbeat;
    struct {
      uint8_t label_index;
      uint8_t score_u8; /* score = score_u8 / 255 */
      uint32_t timestamp_ms;
    } detection;
    struct {
      uint32_t first_sample;
      uint16_t count;
      const uint8_t *samples_le; /* count x int16 little-endian; see al_audio_sample */
    } audio;
    struct {
      uint16_t acked_seq;
      uint8_t acked_type;
    } ack;
    struct {
      uint8_t code;
      uint8_t text_len;
      const uint8_t *text; /* UTF-8, not NUL-terminated */
    } error;
  } u;
} al_message;

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR. */
uint16_t al_crc16(const uint8_t *data, size_t len);

/* COBS: return the output length, or 0 when dst (cap bytes) is too small. */
size_t al_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);
/* Returns the decoded length, -1 if src holds a 0x00 or a code byte runs past
 * the end, -2 if dst is too small. dst may not overlap src. */
long al_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* Payload builders: write header + body into buf; return the payload length,
 * or 0 when a field is out of range or buf (cap bytes) is too small. */
size_t al_pack_hello(uint8_t *buf, size_t cap, uint16_t seq, uint32_t labels_hash,
                     const char *name, const char *const *labels, uint8_t label_count);
size_t al_pack_heartbeat(uint8_t *buf, size_t cap, uint16_t seq, uint32_t uptime_ms);
size_t al_pack_detection(uint8_t *buf, size_t cap, uint16_t seq, uint8_t label_index,
                         uint8_t score_u8, uint32_t timestamp_ms);
size_t al_pack_audio(uint8_t *buf, size_t cap, uint16_t seq, uint32_t first_sample,
                     const int16_t *samples, size_t count);
size_t al_pack_ack(uint8_t *buf, size_t cap, uint16_t seq, uint16_t acked_seq, uint8_t acked_type);
size_t al_pack_error(uint8_t *buf, size_t cap, uint16_t seq, uint8_t code, const char *text);

/* round(clamp(score, 0, 1) * 255), as the host decodes it. */
uint8_t al_score_u8(float score);

/* Frame a payload for the wire: 0x00 | COBS(payload | crc) | 0x00. Returns the
 * frame length, or 0 when the payload is over AL_MAX_PAYLOAD or out is too
 * small (AL_MAX_FRAME always suffices). */
size_t al_frame(const uint8_t *payload, size_t len, uint8_t *out, size_t cap);

/* Check and parse a payload (after COBS decoding and the CRC check). */
al_result al_parse(const uint8_t *payload, size_t len, al_message *out);

/* The i-th sample of an AUDIO_CHUNK. */
int16_t al_audio_sample(const al_message *m, size_t i);

typedef struct {
  uint8_t encoded[AL_MAX_ENCODED];
  uint8_t decoded[AL_MAX_ENCODED];
  size_t len;
  int discarding;                    /* oversize: skipping to the next 0x00 */
  uint32_t counts[AL_RESULT_COUNT];  /* counts[AL_OK]: messages accepted */
} al_decoder;

void al_decoder_init(al_decoder *d);
/* Feed one received byte. Returns 1 and fills *out when the byte completes a
 * valid message (its pointers stay valid until the next push), else 0. Bad
 * chunks are counted in d->counts and skipped up to the next 0x00. */
int al_decoder_push(al_decoder *d, uint8_t byte, al_message *out);

#ifdef __cplusplus
}
#endif

#endif /* AURICLE_LINK_H_ */
