/* Auricle front end, device side. See auricle_frontend.h. */
#include "auricle_frontend.h"

#include <math.h>

#define AF_PI 3.14159265358979323846
#define AF_MAX_MELS 128

static double hz_to_mel(double hz) { return 2595.0 * log10(1.0 + hz / 700.0); }
static double mel_to_hz(double mel) { return 700.0 * (pow(10.0, mel / 2595.0) - 1.0); }

size_t af_work_floats(const af_config *c) {
  size_t bins = (size_t)(c->n_fft / 2 + 1);
  return (size_t)c->window_samples + 2u * (size_t)c->n_fft + (size_t)c->n_fft + 3u * bins + (size_t)c->n_mels +
         (bins * sizeof(short) + sizeof(float) - 1) / sizeof(float);
}

int af_init(af_frontend *fe, const af_config *c, float *work, size_t work_floats) {
  int i, k, half = c->n_fft / 2, bins = c->n_fft / 2 + 1;
  float *p = work;
  double mel_lo, mel_hi, edges[AF_MAX_MELS + 2];
  if (c->n_fft < 2 || (c->n_fft & (c->n_fft - 1)) != 0 || c->window_samples > c->n_fft ||
      c->window_samples < 1 || c->n_mels < 1 || c->n_mels > AF_MAX_MELS || c->n_mfcc < 0 ||
      c->n_mfcc > c->n_mels ||
      !(c->fmin_hz >= 0.0f && c->fmin_hz < c->fmax_hz && c->fmax_hz <= c->sample_rate / 2.0f) ||
      work_floats < af_work_floats(c)) {
    return -1;
  }
  fe->cfg = *c;
  fe->window = p; p += c->window_samples;
  fe->re = p; p += c->n_fft;
  fe->im = p; p += c->n_fft;
  fe->cos_tab = p; p += half;
  fe->sin_tab = p; p += half;
  fe->power = p; p += bins;
  fe->w_up = p; p += bins;
  fe->w_down = p; p += bins;
  fe->mel = p; p += c->n_mels;
  fe->band = (short *)(void *)p;
  for (i = 0; i < c->window_samples; ++i) { /* periodic Hann */
    fe->window[i] = (float)(0.5 - 0.5 * cos(2.0 * AF_PI * i / c->window_samples));
  }
  for (i = 0; i < half; ++i) {
    fe->cos_tab[i] = (float)cos(2.0 * AF_PI * i / c->n_fft);
    fe->sin_tab[i] = (float)sin(2.0 * AF_PI * i / c->n_fft);
  }
  mel_lo = hz_to_mel(c->fmin_hz);
  mel_hi = hz_to_mel(c->fmax_hz);
  for (k = 0; k < c->n_mels + 2; ++k) edges[k] = mel_to_hz(mel_lo + (mel_hi - mel_lo) * k / (c->n_mels + 1));
  for (i = 0; i < bins; ++i) {
    double hz = (double)i * c->sample_rate / c->n_fft;
    fe->band[i] = -1;
    fe->w_up[i] = fe->w_down[i] = 0.0f;
    for (k = 0; k <= c->n_mels; ++k) {
      if (edges[k] <= hz && hz < edges[k + 1]) {
        fe->band[i] = (short)k;
        fe->w_up[i] = (float)((hz - edges[k]) / (edges[k + 1] - edges[k]));     /* filter k rising */
        fe->w_down[i] = (float)((edges[k + 1] - hz) / (edges[k + 1] - edges[k])); /* filter k-1 falling */
      }
    }
  }
  return 0;
}

/* In-place iterative radix-2 FFT of re/im (n a power of two). */
static void fft(af_frontend *fe) {
  int n = fe->cfg.n_fft, i, j = 0, len, k;
  float *re = fe->re, *im = fe->im;
  for (i = 1; i < n; ++i) { /* bit reversal */
    int bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      float t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  for (len = 2; len <= n; len <<= 1) {
    int step = n / len;
    for (i = 0; i < n; i += len) {
      for (k = 0; k < len / 2; ++k) {
        float wr = fe->cos_tab[k * step], wi = -fe->sin_tab[k * step];
        int a = i + k, b = i + k + len / 2;
        float xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
}

void af_frame(af_frontend *fe, const float *samples, float *features) {
  const af_config *c = &fe->cfg;
  int i, m, k, bins = c->n_fft / 2 + 1;
  for (i = 0; i < c->n_fft; ++i) {
    fe->re[i] = i < c->window_samples ? samples[i] * fe->window[i] : 0.0f;
    fe->im[i] = 0.0f;
  }
  fft(fe);
  for (i = 0; i < bins; ++i) fe->power[i] = fe->re[i] * fe->re[i] + fe->im[i] * fe->im[i];
  for (m = 0; m < c->n_mels; ++m) fe->mel[m] = 0.0f;
  for (i = 0; i < bins; ++i) { /* ascending bins: the order numpy's matmul sums in */
    int band = fe->band[i];
    if (band < 0) continue;
    if (band < c->n_mels && fe->w_up[i] > 0.0f) fe->mel[band] += fe->power[i] * fe->w_up[i];
    if (band > 0 && fe->w_down[i] > 0.0f) fe->mel[band - 1] += fe->power[i] * fe->w_down[i];
  }
  for (m = 0; m < c->n_mels; ++m) fe->mel[m] = logf(fe->mel[m] + c->log_floor);
  if (c->n_mfcc == 0) {
    for (m = 0; m < c->n_mels; ++m) features[m] = fe->mel[m];
    return;
  }
  for (k = 0; k < c->n_mfcc; ++k) { /* orthonormal DCT-II */
    float sum = 0.0f;
    for (m = 0; m < c->n_mels; ++m) {
      double basis = cos(AF_PI / c->n_mels * (m + 0.5) * k) * sqrt(2.0 / c->n_mels);
      if (k == 0) basis /= sqrt(2.0);
      sum += fe->mel[m] * (float)basis;
    }
    features[k] = sum;
  }
}
