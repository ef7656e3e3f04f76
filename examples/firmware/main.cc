// Example keyword-spotting firmware: microphone -> front end -> TFLite Micro
// -> smoothing -> Auricle serial link. A sketch to copy, not a board port.
//
// Sources it wires together:
//   NAME_model.cc/.h, NAME_config.h, NAME_resolver.cc/.h   `auricle export-mcu MODEL OUT --name NAME`
//   auricle_frontend.c/.h, auricle_link.c/.h               firmware_bridge/c/ (package data)
//   TFLite Micro                                            your board's TFLM tree
// and three board hooks you write (declared below): read microphone samples,
// write UART bytes, and a millisecond clock.
//
// Build for a board with the real TFLM tree on the include path, e.g.
//   -DAURICLE_MODEL=kws -I OUT -I firmware_bridge/c -I tflite-micro ...
// On a host without TFLM, tests/test_fw_export.py compiles this file (-c, not
// linked) against examples/firmware/stubs/, which declare the TFLM calls used
// here: that proves the code matches the generated sources and the API, not
// that it runs on a device.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
// Blocks until `count` mono samples at model::kSampleRateHz have been read.
void board_read_audio(int16_t* samples, size_t count);
void board_uart_write(const uint8_t* data, size_t len);
uint32_t board_millis(void);
}

namespace {

constexpr uint32_t kHeartbeatPeriodMs = 1000;
// Inferences run every kFramesPerInference front-end frames (kInferenceHopS).
constexpr int kFramesPerInference =
    (int)(model::kInferenceHopS * model::kSampleRateHz / model::kHopSamples + 0.5f) > 0
        ? (int)(model::kInferenceHopS * model::kSampleRateHz / model::kHopSamples + 0.5f)
        : 1;
constexpr int kSmoothingCount =
    (int)(model::kSmoothingS / model::kInferenceHopS + 0.5f) > 0 ? (int)(model::kSmoothingS / model::kInferenceHopS + 0.5f) : 1;

alignas(16) uint8_t g_arena[model::kTensorArenaSize];
// af_work_floats() for this config (af_init checks it).
constexpr int kBins = model::kFftSize / 2 + 1;
constexpr size_t kFrontendWorkFloats =
    model::kWindowSamples + 3 * model::kFftSize + 3 * kBins + model::kMelBins + (kBins * sizeof(short) + 3) / 4;
float g_frontend_work[kFrontendWorkFloats];
float g_window[model::kWindowSamples];
float g_features[model::kClipFrames][model::kFeatureCount];  // ring of the last clip's frames
int g_feature_head = 0;                                      // next row to write
float g_scores[kSmoothingCount][model::kLabelCount];         // ring of recent posteriors
int g_score_head = 0;
int g_above[model::kLabelCount];
uint32_t g_last_event_ms[model::kLabelCount];
uint16_t g_seq = 0;

void Send(const uint8_t* payload, size_t len) {
  uint8_t frame[AL_MAX_FRAME];
  size_t n = al_frame(payload, len, frame, sizeof(frame));
  if (n) board_uart_write(frame, n);
}

void SendHello() {
  uint8_t payload[AL_MAX_PAYLOAD];
  size_t n = al_pack_hello(payload, sizeof(payload), g_seq++, model::kLabelsHash, model::kModelName,
                           model::kLabels, (uint8_t)model::kLabelCount);
  Send(payload, n);
}

void SendError(uint8_t code, const char* text) {
  uint8_t payload[AL_MAX_PAYLOAD];
  Send(payload, al_pack_error(payload, sizeof(payload), g_seq++, code, text));
}

// Copy the feature ring, oldest frame first, into the model input.
void FillInput(TfLiteTensor* input) {
  for (int f = 0; f < model::kClipFrames; ++f) {
    const float* row = g_features[(g_feature_head + f) % model::kClipFrames];
    for (int k = 0; k < model::kFeatureCount; ++k) {
      int i = f * model::kFeatureCount + k;
      if (model::kInputQuantized) {
        float q = roundf(row[k] / model::kInputScale) + (float)model::kInputZeroPoint;
        input->data.int8[i] = (int8_t)(q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q));
      } else {
        input->data.f[i] = row[k];
      }
    }
  }
}

// Smooth the posteriors, and send a DETECTION when a label stays above its
// threshold for kMinCount inferences outside its refractory time.
void Decide(const TfLiteTensor* output, uint32_t now_ms) {
  for (int c = 0; c < model::kLabelCount; ++c) {
    g_scores[g_score_head][c] = model::kOutputQuantized
                                    ? model::kOutputScale * (float)(output->data.int8[c] - model::kOutputZeroPoint)
                                    : output->data.f[c];
  }
  g_score_head = (g_score_head + 1) % kSmoothingCount;
  for (int c = 0; c < model::kLabelCount; ++c) {
    float mean = 0.0f;
    for (int i = 0; i < kSmoothingCount; ++i) mean += g_scores[i][c];
    mean /= (float)kSmoothingCount;
    g_above[c] = mean >= model::kThresholds[c] ? g_above[c] + 1 : 0;
    bool refractory = g_last_event_ms[c] != 0 && now_ms - g_last_event_ms[c] < (uint32_t)(model::kRefractoryS * 1000.0f);
    if (!model::kIsBackground[c] && g_above[c] >= model::kMinCount && !refractory) {
      uint8_t payload[AL_MAX_PAYLOAD];
      Send(payload, al_pack_detection(payload, sizeof(payload), g_seq++, (uint8_t)c, al_score_u8(mean), now_ms));
      g_last_event_ms[c] = now_ms == 0 ? 1 : now_ms;
      g_above[c] = 0;
    }
  }
}

}  // namespace

int main() {
  SendHello();
  const tflite::Model* tfl_model = tflite::GetModel(model::kModel);
  if (tfl_model->version() != TFLITE_SCHEMA_VERSION) {
    SendError(1, "model schema version mismatch");
    return 1;
  }
  static model::OpResolver resolver;
  if (model::RegisterOps(resolver) != kTfLiteOk) {
    SendError(2, "op registration failed");
    return 1;
  }
  static tflite::MicroInterpreter interpreter(tfl_model, resolver, g_arena, sizeof(g_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    SendError(3, "tensor arena too small");
    return 1;
  }
  af_config fe_config = {model::kSampleRateHz, model::kWindowSamples, model::kHopSamples, model::kFftSize,
                         model::kMelBins,      model::kMfccCount,     model::kMelFminHz,  model::kMelFmaxHz,
                         model::kLogFloor};
  static af_frontend frontend;
  if (af_init(&frontend, &fe_config, g_frontend_work, kFrontendWorkFloats) != 0) {
    SendError(4, "front end config or work memory");
    return 1;
  }

  int16_t hop[model::kHopSamples];
  int frames_seen = 0;
  uint32_t last_heartbeat_ms = 0;
  // Prime the window with its first window - hop samples.
  for (int i = 0; i < model::kWindowSamples - model::kHopSamples; ++i) {
    int16_t s;
    board_read_audio(&s, 1);
    g_window[i] = s / 32768.0f;
  }
  for (;;) {
    board_read_audio(hop, model::kHopSamples);
    for (int i = 0; i < model::kHopSamples; ++i) g_window[model::kWindowSamples - model::kHopSamples + i] = hop[i] / 32768.0f;
    af_frame(&frontend, g_window, g_features[g_feature_head]);
    g_feature_head = (g_feature_head + 1) % model::kClipFrames;
    memmove(g_window, g_window + model::kHopSamples, sizeof(float) * (model::kWindowSamples - model::kHopSamples));
    ++frames_seen;

    uint32_t now_ms = board_millis();
    if (frames_seen >= model::kClipFrames && frames_seen % kFramesPerInference == 0) {
      FillInput(interpreter.input(0));
      if (interpreter.Invoke() != kTfLiteOk) {
        SendError(5, "invoke failed");
      } else {
        Decide(interpreter.output(0), now_ms);
      }
    }
    if (now_ms - last_heartbeat_ms >= kHeartbeatPeriodMs) {
      uint8_t payload[AL_MAX_PAYLOAD];
      Send(payload, al_pack_heartbeat(payload, sizeof(payload), g_seq++, now_ms));
      last_heartbeat_ms = now_ms;
    }
  }
}
