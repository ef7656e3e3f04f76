/* Auricle serial link, device side. See auricle_link.h and docs/serial-protocol.md. */
#include "auricle_link.h"

#include <string.h>

uint16_t al_crc16(const uint8_t *data, size_t len) {
  uint16_t crc = 0xFFFFu;
  size_t i;
  int bit;
  for (i = 0; i < len; ++i) {
    crc ^= (uint16_t)((uint16_t)data[i] << 8);
    for (bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
  }
  return crc;
}

size_t al_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap) {
  /* The classic loop: each group is a code byte (1 + bytes that follow before
   * an implied 0x00) and up to 254 non-zero bytes; a full group (code 0xFF)
   * implies no 0x00, and one that ends the input opens no new group. */
  size_t out = 1, code_at = 0, i;
  uint8_t code = 1;
  if (cap < 1) return 0;
  for (i = 0; i < len; ++i) {
    if (src[i] != 0) {
      if (out >= cap) return 0;
      dst[out++] = src[i];
      ++code;
    }
    if (src[i] == 0 || code == 0xFF) {
      dst[code_at] = code;
      code = 1;
      code_at = out;
      if (src[i] == 0 || i + 1 < len) {
        if (out >= cap) return 0;
        ++out;
      } else {
        return out; /* a full group ended the input */
      }
    }
  }
  dst[code_at] = code;
  return out;
}

long al_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap) {
  size_t in = 0, out = 0;
  while (in < len) {
    uint8_t code = src[in++];
    uint8_t k;
    if (code == 0) return -1;
    for (k = 1; k < code; ++k) {
      if (in >= len || src[in] == 0) return -1;
      if (out >= cap) return -2;
      dst[out++] = src[in++];
    }
    if (code != 0xFF && in < len) {
      if (out >= cap) return -2;
      dst[out++] = 0;
    }
  }
  return (long)out;
}

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)((v >> 8) & 0xFFu);
  p[2] = (uint8_t)((v >> 16) & 0xFFu);
  p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static size_t header(uint8_t *buf, size_t cap, uint8_t type, uint16_t seq, size_t body_len) {
  if (AL_HEADER_BYTES + body_len > cap || AL_HEADER_BYTES + body_len > AL_MAX_PAYLOAD) return 0;
  buf[0] = AL_PROTOCOL_VERSION;
  buf[1] = type;
  put_u16(buf + 2, seq);
  return AL_HEADER_BYTES + body_len;
}

size_t al_pack_hello(uint8_t *buf, size_t cap, uint16_t seq, uint32_t labels_hash,
                     const char *name, const char *const *labels, uint8_t label_count) {
  size_t name_len = strlen(name), body = 6 + name_len, total, i, pos;
  if (name_len > 255) return 0;
  for (i = 0; i < label_count; ++i) {
    size_t n = strlen(labels[i]);
    if (n > 255) return 0;
    body += 1 + n;
  }
  total = header(buf, cap, AL_HELLO, seq, body);
  if (total == 0) return 0;
  put_u32(buf + 4, labels_hash);
  buf[8] = label_count;
  buf[9] = (uint8_t)name_len;
  memcpy(buf + 10, name, name_len);
  pos = 10 + name_len;
  for (i = 0; i < label_count; ++i) {
    size_t n = strlen(labels[i]);
    buf[pos++] = (uint8_t)n;
    memcpy(buf + pos, labels[i], n);
    pos += n;
  }
  return total;
}

size_t al_pack_heartbeat(uint8_t *buf, size_t cap, uint16_t seq, uint32_t uptime_ms) {
  size_t total = header(buf, cap, AL_HEARTBEAT, seq, 4);
  if (total) put_u32(buf + 4, uptime_ms);
  return total;
}

size_t al_pack_detection(uint8_t *buf, size_t cap, uint16_t seq, uint8_t label_index,
                         uint8_t score_u8, uint32_t timestamp_ms) {
  size_t total = header(buf, cap, AL_DETECTION, seq, 6);
  if (total) {
    buf[4] = label_index;
    buf[5] = score_u8;
    put_u32(buf + 6, timestamp_ms);
  }
  return total;
}

size_t al_pack_audio(uint8_t *buf, size_t cap, uint16_t seq, uint32_t first_sample,
                     const int16_t *samples, size_t count) {
  size_t total, i;
  if (count < 1 || count > AL_MAX_AUDIO_SAMPLES) return 0;
  total = header(buf, cap, AL_AUDIO_CHUNK, seq, 4 + 2 * count);
  if (total == 0) return 0;
  put_u32(buf + 4, first_sample);
  for (i = 0; i < count; ++i) put_u16(buf + 8 + 2 * i, (uint16_t)samples[i]);
  return total;
}

size_t al_pack_ack(uint8_t *buf, size_t cap, uint16_t seq, uint16_t acked_seq, uint8_t acked_type) {
  size_t total = header(buf, cap, AL_ACK, seq, 3);
  if (total) {
    put_u16(buf + 4, acked_seq);
    buf[6] = acked_type;
  }
  return total;
}

size_t al_pack_error(uint8_t *buf, size_t cap, uint16_t seq, uint8_t code, const char *text) {
  size_t n = strlen(text), total;
  if (n > AL_MAX_ERROR_TEXT) return 0;
  total = header(buf, cap, AL_ERROR, seq, 1 + n);
  if (total) {
    buf[4] = code;
    memcpy(buf + 5, text, n);
  }
  return total;
}

uint8_t al_score_u8(float score) {
  if (!(score > 0.0f)) return 0; /* also NaN */
  if (score >= 1.0f) return 255;
  /* Python rounds half to even; x*255 is an exact .5 only for x = k/510. */
  {
    float scaled = score * 255.0f;
    uint8_t low = (uint8_t)scaled;
    float frac = scaled - (float)low;
    if (frac > 0.5f || (frac == 0.5f && (low & 1u))) ++low;
    return low;
  }
}

size_t al_frame(const uint8_t *payload, size_t len, uint8_t *out, size_t cap) {
  uint8_t raw[AL_MAX_PAYLOAD + AL_CRC_BYTES];
  uint16_t crc;
  size_t encoded;
  if (len > AL_MAX_PAYLOAD || cap < 2) return 0;
  memcpy(raw, payload, len);
  crc = al_crc16(payload, len);
  raw[len] = (uint8_t)(crc >> 8);
  raw[len + 1] = (uint8_t)(crc & 0xFFu);
  out[0] = 0;
  encoded = al_cobs_encode(raw, len + AL_CRC_BYTES, out + 1, cap - 2);
  if (encoded == 0) return 0;
  out[1 + encoded] = 0;
  return encoded + 2;
}

al_result al_parse(const uint8_t *p, size_t len, al_message *m) {
  const uint8_t *body = p + AL_HEADER_BYTES;
  size_t n;
  if (len < AL_HEADER_BYTES) return AL_REJECT_TRUNCATED;
  if (len > AL_MAX_PAYLOAD) return AL_REJECT_OVERSIZE;
  m->version = p[0];
  m->type = p[1];
  m->seq = get_u16(p + 2);
  if (m->version != AL_PROTOCOL_VERSION) return AL_REJECT_VERSION;
  n = len - AL_HEADER_BYTES;
  switch (m->type) {
    case AL_HELLO: {
      size_t pos, i;
      if (n < 6) return AL_REJECT_MALFORMED;
      m->u.hello.labels_hash = get_u32(body);
      m->u.hello.label_count = body[4];
      m->u.hello.name_len = body[5];
      if (6 + (size_t)body[5] > n) return AL_REJECT_MALFORMED;
      m->u.hello.name = body + 6;
      pos = 6 + (size_t)body[5];
      m->u.hello.labels = body + pos;
      for (i = 0; i < m->u.hello.label_count; ++i) {
        if (pos >= n) return AL_REJECT_MALFORMED;
        pos += 1 + (size_t)body[pos];
      }
      if (pos != n) return AL_REJECT_MALFORMED;
      m->u.hello.labels_bytes = n - (6 + (size_t)body[5]);
      return AL_OK;
    }
    case AL_HEARTBEAT:
      if (n != 4) return AL_REJECT_MALFORMED;
      m->u.heartbeat.uptime_ms = get_u32(body);
      return AL_OK;
    case AL_DETECTION:
      if (n != 6) return AL_REJECT_MALFORMED;
      m->u.detection.label_index = body[0];
      m->u.detection.score_u8 = body[1];
      m->u.detection.timestamp_ms = get_u32(body + 2);
      return AL_OK;
    case AL_AUDIO_CHUNK:
      if (n < 6 || (n - 4) % 2 != 0 || (n - 4) / 2 > AL_MAX_AUDIO_SAMPLES) return AL_REJECT_MALFORMED;
      m->u.audio.first_sample = get_u32(body);
      m->u.audio.count = (uint16_t)((n - 4) / 2);
      m->u.audio.samples_le = body + 4;
      return AL_OK;
    case AL_ACK:
      if (n != 3) return AL_REJECT_MALFORMED;
      m->u.ack.acked_seq = get_u16(body);
      m->u.ack.acked_type = body[2];
      return AL_OK;
    case AL_ERROR:
      if (n < 1 || n > 1 + AL_MAX_ERROR_TEXT) return AL_REJECT_MALFORMED;
      m->u.error.code = body[0];
      m->u.error.text_len = (uint8_t)(n - 1);
      m->u.error.text = body + 1;
      return AL_OK;
    default:
      return AL_REJECT_UNKNOWN_TYPE;
  }
}

int16_t al_audio_sample(const al_message *m, size_t i) {
  return (int16_t)get_u16(m->u.audio.samples_le + 2 * i);
}

void al_decoder_init(al_decoder *d) { memset(d, 0, sizeof(*d)); }

static int looks_like_frame(const uint8_t *chunk, size_t len) {
  return len >= 3 && chunk[0] >= 3 && chunk[1] == AL_PROTOCOL_VERSION && chunk[2] >= AL_HELLO &&
         chunk[2] <= AL_ERROR;
}

static size_t min_body(uint8_t type) {
  switch (type) {
    case AL_HELLO: return 6;
    case AL_HEARTBEAT: return 4;
    case AL_DETECTION: return 6;
    case AL_AUDIO_CHUNK: return 6;
    case AL_ACK: return 3;
    case AL_ERROR: return 1;
    default: return 0;
  }
}

static al_result decode_chunk(al_decoder *d, al_message *out) {
  long n = al_cobs_decode(d->encoded, d->len, d->decoded, sizeof(d->decoded));
  size_t payload_len;
  uint16_t crc;
  if (n < 0 || (size_t)n < AL_HEADER_BYTES + AL_CRC_BYTES) {
    return looks_like_frame(d->encoded, d->len) ? AL_REJECT_TRUNCATED : AL_REJECT_GARBAGE;
  }
  payload_len = (size_t)n - AL_CRC_BYTES;
  crc = (uint16_t)((d->decoded[payload_len] << 8) | d->decoded[payload_len + 1]);
  if (al_crc16(d->decoded, payload_len) != crc) {
    /* Shorter than its own type allows: the tail was lost, not flipped. */
    return d->decoded[0] == AL_PROTOCOL_VERSION && (size_t)n < AL_HEADER_BYTES + min_body(d->decoded[1]) + AL_CRC_BYTES
               ? AL_REJECT_TRUNCATED
               : AL_REJECT_BAD_CRC;
  }
  return al_parse(d->decoded, payload_len, out);
}

int al_decoder_push(al_decoder *d, uint8_t byte, al_message *out) {
  al_result result;
  if (byte != 0) {
    if (d->discarding) return 0;
    if (d->len >= sizeof(d->encoded)) {
      d->counts[AL_REJECT_OVERSIZE]++;
      d->discarding = 1;
      d->len = 0;
      return 0;
    }
    d->encoded[d->len++] = byte;
    return 0;
  }
  if (d->discarding || d->len == 0) {
    d->discarding = 0;
    d->len = 0;
    return 0;
  }
  result = decode_chunk(d, out);
  d->len = 0;
  d->counts[result]++;
  return result == AL_OK;
}
