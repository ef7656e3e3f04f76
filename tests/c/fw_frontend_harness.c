/* Test harness for firmware_bridge/c/auricle_frontend.c (tests/test_fw_frontend_c.py).
 *   fw_frontend_harness rate window hop n_fft n_mels n_mfcc fmin fmax log_floor
 *   stdin: float32 samples; stdout: float32 features of every full frame ("valid" framing). */
#include <stdio.h>
#include <stdlib.h>

#include "auricle_frontend.h"

#define MAX_SAMPLES (16000 * 60)

int main(int argc, char **argv) {
  static float samples[MAX_SAMPLES];
  static float work[65536];
  static float features[512];
  af_config c;
  af_frontend fe;
  size_t n, start;
  int count;
  if (argc != 10) {
    fprintf(stderr, "usage: %s rate window hop n_fft n_mels n_mfcc fmin fmax log_floor\n", argv[0]);
    return 2;
  }
  c.sample_rate = atoi(argv[1]);
  c.window_samples = atoi(argv[2]);
  c.hop_samples = atoi(argv[3]);
  c.n_fft = atoi(argv[4]);
  c.n_mels = atoi(argv[5]);
  c.n_mfcc = atoi(argv[6]);
  c.fmin_hz = (float)atof(argv[7]);
  c.fmax_hz = (float)atof(argv[8]);
  c.log_floor = (float)atof(argv[9]);
  if (af_init(&fe, &c, work, sizeof(work) / sizeof(work[0])) != 0) {
    fprintf(stderr, "bad front-end config\n");
    return 3;
  }
  n = fread(samples, sizeof(float), MAX_SAMPLES, stdin);
  count = c.n_mfcc ? c.n_mfcc : c.n_mels;
  for (start = 0; start + (size_t)c.window_samples <= n; start += (size_t)c.hop_samples) {
    af_frame(&fe, samples + start, features);
    fwrite(features, sizeof(float), (size_t)count, stdout);
  }
  return 0;
}
