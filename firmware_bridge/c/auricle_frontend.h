/* Auricle front end in C99: the features of sdk/frontend.py, one frame at a time.
 *
 * log(mel_power + log_floor) of a periodic-Hann-windowed frame, zero-padded to
 * n_fft (a power of two), HTK mel filters between fmin and fmax with peaks of
 * 1; with n_mfcc > 0, the first n_mfcc coefficients of an orthonormal DCT-II.
 * tests/test_fw_frontend_c.py holds it to sdk.frontend.features on speech.
 *
 * No dynamic allocation: the caller gives af_work_floats(cfg) floats of work
 * memory (2956 floats, 11.8 KB, for the default 512-point, 40-mel front end). Framing is
 * the caller's: call af_frame every hop_samples with the last window_samples.
 */
#ifndef AURICLE_FRONTEND_H_
#define AURICLE_FRONTEND_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int sample_rate;
  int window_samples;
  int hop_samples;
  int n_fft; /* power of two, >= window_samples */
  int n_mels;
  int n_mfcc; /* 0: log-mel features */
  float fmin_hz;
  float fmax_hz;
  float log_floor;
} af_config;

typedef struct {
  af_config cfg;
  float *window;   /* window_samples */
  float *re, *im;  /* n_fft each */
  float *cos_tab;  /* n_fft / 2 */
  float *sin_tab;  /* n_fft / 2 */
  float *power;    /* n_fft / 2 + 1 */
  float *mel;      /* n_mels */
  /* Each FFT bin lies on the rising edge of one mel filter (band[i]) and the
   * falling edge of the one before: weights computed once, in double as numpy does. */
  float *w_up, *w_down; /* n_fft / 2 + 1 each */
  short *band;          /* n_fft / 2 + 1; -1: outside fmin..fmax */
} af_frontend;

/* Floats of work memory af_init needs. */
size_t af_work_floats(const af_config *cfg);

/* Returns 0, or -1 for a config it cannot run (n_fft not a power of two,
 * window longer than n_fft, too little work memory, bad mel range). */
int af_init(af_frontend *fe, const af_config *cfg, float *work, size_t work_floats);

/* Features of one frame: samples[window_samples] in [-1, 1] ->
 * features[n_mfcc ? n_mfcc : n_mels]. */
void af_frame(af_frontend *fe, const float *samples, float *features);

#ifdef __cplusplus
}
#endif

#endif /* AURICLE_FRONTEND_H_ */
