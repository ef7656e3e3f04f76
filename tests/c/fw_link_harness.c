/* Test harness for firmware_bridge/c/auricle_link.c (used by tests/test_fw_link_c.py).
 *
 *   fw_link_harness encode   stdin: one message spec per line -> stdout: hex frame per line
 *   fw_link_harness raw      stdin: specs -> stdout: the frames as raw bytes (a "device")
 *   fw_link_harness decode   stdin: raw bytes -> stdout: one spec per valid message, then
 *                            "COUNTS ok oversize garbage truncated bad_crc version unknown_type malformed"
 *
 * Spec lines (text fields as hex, "-" for empty):
 *   HELLO seq hash name_hex label_count label_hex...
 *   HEARTBEAT seq uptime_ms
 *   DETECTION seq label_index score_u8 timestamp_ms
 *   AUDIO seq first_sample count s0 s1 ...
 *   ACK seq acked_seq acked_type
 *   ERROR seq code text_hex
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auricle_link.h"

static void unhex(const char *hex, char *out, size_t cap) {
  size_t n = 0;
  if (strcmp(hex, "-") != 0) {
    for (; hex[0] && hex[1] && n + 1 < cap; hex += 2) {
      unsigned v;
      sscanf(hex, "%2x", &v);
      out[n++] = (char)v;
    }
  }
  out[n] = 0;
}

static void puthex(const uint8_t *p, size_t n) {
  size_t i;
  if (n == 0) fputs("-", stdout);
  for (i = 0; i < n; ++i) printf("%02x", p[i]);
}

static size_t pack_line(char *line, uint8_t *payload) {
  char *tok = strtok(line, " \n");
  unsigned long seq;
  if (!tok) return 0;
  seq = strtoul(strtok(NULL, " \n"), NULL, 10);
  if (strcmp(tok, "HELLO") == 0) {
    static char name[256], labels[255][256];
    const char *ptrs[255];
    unsigned long hash = strtoul(strtok(NULL, " \n"), NULL, 10);
    unsigned long count, i;
    unhex(strtok(NULL, " \n"), name, sizeof(name));
    count = strtoul(strtok(NULL, " \n"), NULL, 10);
    for (i = 0; i < count; ++i) {
      unhex(strtok(NULL, " \n"), labels[i], sizeof(labels[i]));
      ptrs[i] = labels[i];
    }
    return al_pack_hello(payload, AL_MAX_PAYLOAD, (uint16_t)seq, (uint32_t)hash, name, ptrs, (uint8_t)count);
  }
  if (strcmp(tok, "HEARTBEAT") == 0) {
    return al_pack_heartbeat(payload, AL_MAX_PAYLOAD, (uint16_t)seq, (uint32_t)strtoul(strtok(NULL, " \n"), NULL, 10));
  }
  if (strcmp(tok, "DETECTION") == 0) {
    unsigned long index = strtoul(strtok(NULL, " \n"), NULL, 10);
    unsigned long score = strtoul(strtok(NULL, " \n"), NULL, 10);
    unsigned long ts = strtoul(strtok(NULL, " \n"), NULL, 10);
    return al_pack_detection(payload, AL_MAX_PAYLOAD, (uint16_t)seq, (uint8_t)index, (uint8_t)score, (uint32_t)ts);
  }
  if (strcmp(tok, "AUDIO") == 0) {
    int16_t samples[AL_MAX_AUDIO_SAMPLES];
    unsigned long first = strtoul(strtok(NULL, " \n"), NULL, 10);
    unsigned long count = strtoul(strtok(NULL, " \n"), NULL, 10), i;
    for (i = 0; i < count && i < AL_MAX_AUDIO_SAMPLES; ++i) samples[i] = (int16_t)strtol(strtok(NULL, " \n"), NULL, 10);
    return al_pack_audio(payload, AL_MAX_PAYLOAD, (uint16_t)seq, (uint32_t)first, samples, count);
  }
  if (strcmp(tok, "ACK") == 0) {
    unsigned long acked = strtoul(strtok(NULL, " \n"), NULL, 10);
    unsigned long type = strtoul(strtok(NULL, " \n"), NULL, 10);
    return al_pack_ack(payload, AL_MAX_PAYLOAD, (uint16_t)seq, (uint16_t)acked, (uint8_t)type);
  }
  if (strcmp(tok, "ERROR") == 0) {
    static char text[256];
    unsigned long code = strtoul(strtok(NULL, " \n"), NULL, 10);
    unhex(strtok(NULL, " \n"), text, sizeof(text));
    return al_pack_error(payload, AL_MAX_PAYLOAD, (uint16_t)seq, (uint8_t)code, text);
  }
  return 0;
}

static void print_message(const al_message *m) {
  size_t i;
  switch (m->type) {
    case AL_HELLO: {
      const uint8_t *p = m->u.hello.labels;
      printf("HELLO %u %lu ", m->seq, (unsigned long)m->u.hello.labels_hash);
      puthex(m->u.hello.name, m->u.hello.name_len);
      printf(" %u", m->u.hello.label_count);
      for (i = 0; i < m->u.hello.label_count; ++i) {
        putchar(' ');
        puthex(p + 1, p[0]);
        p += 1 + p[0];
      }
      break;
    }
    case AL_HEARTBEAT:
      printf("HEARTBEAT %u %lu", m->seq, (unsigned long)m->u.heartbeat.uptime_ms);
      break;
    case AL_DETECTION:
      printf("DETECTION %u %u %u %lu", m->seq, m->u.detection.label_index, m->u.detection.score_u8,
             (unsigned long)m->u.detection.timestamp_ms);
      break;
    case AL_AUDIO_CHUNK:
      printf("AUDIO %u %lu %u", m->seq, (unsigned long)m->u.audio.first_sample, m->u.audio.count);
      for (i = 0; i < m->u.audio.count; ++i) printf(" %d", al_audio_sample(m, i));
      break;
    case AL_ACK:
      printf("ACK %u %u %u", m->seq, m->u.ack.acked_seq, m->u.ack.acked_type);
      break;
    case AL_ERROR:
      printf("ERROR %u %u ", m->seq, m->u.error.code);
      puthex(m->u.error.text, m->u.error.text_len);
      break;
    default:
      break;
  }
  putchar('\n');
}

int main(int argc, char **argv) {
  static char line[65536];
  uint8_t payload[AL_MAX_PAYLOAD], frame[AL_MAX_FRAME];
  if (argc != 2) {
    fprintf(stderr, "usage: %s encode|raw|decode\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "encode") == 0 || strcmp(argv[1], "raw") == 0) {
    int raw = strcmp(argv[1], "raw") == 0;
    while (fgets(line, sizeof(line), stdin)) {
      size_t n = pack_line(line, payload), f;
      if (n == 0) {
        if (!raw) puts("PACK_ERROR");
        continue;
      }
      f = al_frame(payload, n, frame, sizeof(frame));
      if (raw) {
        fwrite(frame, 1, f, stdout);
        fflush(stdout);
      } else {
        puthex(frame, f);
        putchar('\n');
      }
    }
    return 0;
  }
  if (strcmp(argv[1], "decode") == 0) {
    static al_decoder decoder;
    al_message m;
    int c, i;
    al_decoder_init(&decoder);
    while ((c = getchar()) != EOF) {
      if (al_decoder_push(&decoder, (uint8_t)c, &m)) print_message(&m);
    }
    printf("COUNTS");
    for (i = 0; i < AL_RESULT_COUNT; ++i) printf(" %lu", (unsigned long)decoder.counts[i]);
    putchar('\n');
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
