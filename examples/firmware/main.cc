// Keyword-spotting firmware: microphone -> front end -> TFLite Micro ->
// smoothing -> Auricle serial link. Runs as is on the host (board_host.cc)
// and on an emulated Cortex-M4 (board_mps2_an386.cc); a real board supplies
// the same four hooks.
//
// Sources it wires together:
//   NAME_model.cc/.h, NAME_config.h, NAME_resolver.cc/.h   `auricle export-mcu MODEL OUT --name NAME`
//   auricle_frontend.c/.h, auricle_link.c/.h               firmware_bridge/c/ (package data)
//   TFLite Micro                                            a TFLM source tree (TFLM_DIR), see README
//
// Detection follows sdk.smoothing.Smoother exactly (a test holds this program
// to the Python Detector on real clips): inference when a whole window of
// frames is in, then every kHopFrames frames; the mean of the last
// kSmoothingWindow posteriors (fewer at the start); an event when a
// foreground label has been at or above its threshold for kMinCount
// inferences in a row and none of that label fired within kRefractoryS.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmath>

#include "auricle_frontend.h"
#include "auricle_link.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#ifndef AURICLE_MODEL
#define AURICLE_MODEL tiny  // the --name given to `auricle export-mcu`
#endif
#define AURICLE_STR2(x) #x
#define AURICLE_STR(x) AURICLE_STR2(x)
#define AURICLE_CAT2(a, b) a##b
#define AURICLE_CAT(a, b) AURICLE_CAT2(a, b)
#include AURICLE_STR(AURICLE_CAT(AURICLE_MODEL, _model).h)
#include AURICLE_STR(AURICLE_CAT(AURICLE_MODEL, _config).h)
#include AURICLE_STR(AURICLE_CAT(AURICLE_MODEL, _resolver).h)

namespace model = AURICLE_MODEL;

// Board hooks.
extern "C" {
// Reads up to `count` mono samples at model::kSampleRateHz; returns how many
// (fewer only at the end of the input, which ends the program).
size_t board_read_audio(int16_t* samples, size_t count);
void board_uart_write(const uint8_t* data, size_t len);
// A line of diagnostics (arena use, raw scores per inference); may do nothing.
void board_log(const char* line);
// Instruction or cycle counter for profiling Invoke(); 0 where the board has none.
uint32_t board_counter(void);
}

namespace {

constexpr uint32_t kHeartbeatPeriodMs = 1000;
constexpr int kBins = model::kFftSize / 2 + 1;
// af_work_floats() for this config (af_init checks it).
constexpr size_t kFrontendWorkFloats =
    model::kWindowSamples + 3 * model::kFftSize + 3 * kBins + model::kMelBins + (kBins * sizeof(short) + 3) / 4;

alignas(16) uint8_t g_arena[model::kTensorArenaSize];
af_frontend g_frontend;
float g_frontend_work[kFrontendWorkFloats];
float g_window[model::kWindowSamples];
float g_features[model::kClipFrames][model::kFeatureCount];  // ring of the last window's frames
int g_feature_head = 0;                                      // oldest row = next to overwrite

struct Smoother {
  double ring[model::kSmoothingWindow][model::kLabelCount];  // raw posteriors, zero until filled
  int next = 0;
  int filled = 0;
  int above[model::kLabelCount] = {};
  double last_event_s[model::kLabelCount];
} g_smoother;
uint16_t g_seq = 0;

void Send(const uint8_t* payload, size_t len) {
  uint8_t frame[AL_MAX_FRAME];
  size_t n = len ? al_frame(payload, len, frame, sizeof(frame)) : 0;
  if (n) board_uart_write(frame, n);
}

void SendError(uint8_t code, const char* text) {
  uint8_t payload[AL_MAX_PAYLOAD];
  Send(payload, al_pack_error(payload, sizeof(payload), g_seq++, code, text));
}

// The feature ring, oldest frame first, quantized as sdk.engine.quantize does.
void FillInput(TfLiteTensor* input) {
  for (int f = 0; f < model::kClipFrames; ++f) {
    const float* row = g_features[(g_feature_head + f) % model::kClipFrames];
    for (int k = 0; k < model::kFeatureCount; ++k) {
      int i = f * model::kFeatureCount + k;
      if (model::kInputQuantized) {
        float q = std::nearbyint(row[k] / model::kInputScale) + (float)model::kInputZeroPoint;  // half to even
        input->data.int8[i] = (int8_t)(q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q));
      } else {
        input->data.f[i] = row[k];
      }
    }
  }
}

void LogScores(const TfLiteTensor* output, uint32_t end_ms) {
  char line[32 + 8 * model::kLabelCount];
  int n = snprintf(line, sizeof(line), "scores %lu", (unsigned long)end_ms);
  for (int c = 0; c < model::kLabelCount && n > 0 && n < (int)sizeof(line); ++c) {
    n += model::kOutputQuantized ? snprintf(line + n, sizeof(line) - n, " %d", output->data.int8[c])
                                 : snprintf(line + n, sizeof(line) - n, " %.6f", (double)output->data.f[c]);
  }
  board_log(line);
}

// sdk.smoothing.Smoother.push, then one DETECTION per event.
void Decide(const TfLiteTensor* output, double end_s, uint32_t end_ms) {
  Smoother& s = g_smoother;
  for (int c = 0; c < model::kLabelCount; ++c) {
    float p = model::kOutputQuantized
                  ? ((float)output->data.int8[c] - (float)model::kOutputZeroPoint) * model::kOutputScale
                  : output->data.f[c];
    s.ring[s.next][c] = p;
  }
  s.next = (s.next + 1) % model::kSmoothingWindow;
  s.filled = s.filled < model::kSmoothingWindow ? s.filled + 1 : s.filled;
  for (int c = 0; c < model::kLabelCount; ++c) {
    if (model::kIsBackground[c]) continue;
    double total = 0.0;
    for (int j = 0; j < model::kSmoothingWindow; ++j) total += s.ring[(s.next + j) % model::kSmoothingWindow][c];
    double mean = total / s.filled;
    s.above[c] = mean >= model::kThresholds[c] ? s.above[c] + 1 : 0;
    if (s.above[c] >= model::kMinCount && end_s >= s.last_event_s[c] + model::kRefractoryS) {
      s.last_event_s[c] = end_s;
      uint8_t payload[AL_MAX_PAYLOAD];
      Send(payload, al_pack_detection(payload, sizeof(payload), g_seq++, (uint8_t)c, al_score_u8((float)mean), end_ms));
    }
  }
}

// One front-end frame per hop of new samples; false at the end of the input.
bool NextFrame(bool first) {
  int16_t samples[model::kWindowSamples];
  int keep = first ? 0 : model::kWindowSamples - model::kHopSamples;
  int want = model::kWindowSamples - keep;
  if (board_read_audio(samples, (size_t)want) != (size_t)want) return false;
  memmove(g_window, g_window + model::kHopSamples, sizeof(float) * keep);
  for (int i = 0; i < want; ++i) g_window[keep + i] = samples[i] / 32768.0f;
  af_frame(&g_frontend, g_window, g_features[g_feature_head]);
  g_feature_head = (g_feature_head + 1) % model::kClipFrames;
  return true;
}

}  // namespace

int main() {
  uint8_t payload[AL_MAX_PAYLOAD];
  Send(payload, al_pack_hello(payload, sizeof(payload), g_seq++, model::kLabelsHash, model::kModelName,
                              model::kLabels, (uint8_t)model::kLabelCount));
  const tflite::Model* tfl_model = tflite::GetModel(model::kModel);
  if (tfl_model->version() != TFLITE_SCHEMA_VERSION) {
    SendError(1, "model schema version mismatch");
    return 1;
  }
  static model::OpResolver resolver;
  if (model::RegisterOps(resolver) != kTfLiteOk) {
    SendError(2, "op registration failed");
    return 2;
  }
  static tflite::MicroInterpreter interpreter(tfl_model, resolver, g_arena, sizeof(g_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    SendError(3, "tensor arena too small");
    return 3;
  }
  char line[96];
  snprintf(line, sizeof(line), "arena_used_bytes %lu of %lu", (unsigned long)interpreter.arena_used_bytes(),
           (unsigned long)sizeof(g_arena));
  board_log(line);
  af_config fe_config = {model::kSampleRateHz, model::kWindowSamples, model::kHopSamples, model::kFftSize,
                         model::kMelBins,      model::kMfccCount,     model::kMelFminHz,  model::kMelFmaxHz,
                         model::kLogFloor};
  if (af_init(&g_frontend, &fe_config, g_frontend_work, kFrontendWorkFloats) != 0) {
    SendError(4, "front end config or work memory");
    return 4;
  }
  for (int c = 0; c < model::kLabelCount; ++c) g_smoother.last_event_s[c] = -HUGE_VAL;

  long frames_seen = 0;
  long frames_to_next = model::kClipFrames;  // first inference: a whole window
  uint32_t next_heartbeat_ms = kHeartbeatPeriodMs;
  while (NextFrame(frames_seen == 0)) {
    ++frames_seen;
    long end_sample = (frames_seen - 1) * model::kHopSamples + model::kWindowSamples;
    uint32_t end_ms = (uint32_t)(end_sample * 1000 / model::kSampleRateHz);
    if (--frames_to_next == 0) {
      frames_to_next = model::kHopFrames;
      FillInput(interpreter.input(0));
      uint32_t before = board_counter();
      TfLiteStatus status = interpreter.Invoke();
      uint32_t counted = board_counter() - before;
      if (status != kTfLiteOk) {
        SendError(5, "invoke failed");
        return 5;
      }
      if (counted) {
        snprintf(line, sizeof(line), "invoke_counter %lu", (unsigned long)counted);
        board_log(line);
      }
      LogScores(interpreter.output(0), end_ms);
      Decide(interpreter.output(0), (double)end_sample / model::kSampleRateHz, end_ms);
    }
    if (end_ms >= next_heartbeat_ms) {
      Send(payload, al_pack_heartbeat(payload, sizeof(payload), g_seq++, end_ms));
      next_heartbeat_ms += kHeartbeatPeriodMs;
    }
  }
  return 0;
}
