// STUB of TFLite's schema_generated.h: only GetModel and the schema version
// (see ../micro/micro_mutable_op_resolver.h for why stubs exist).
#ifndef AURICLE_STUB_SCHEMA_GENERATED_H_
#define AURICLE_STUB_SCHEMA_GENERATED_H_

#include <stdint.h>

#define TFLITE_SCHEMA_VERSION (3)

namespace tflite {

struct Model {
  uint32_t version() const { return TFLITE_SCHEMA_VERSION; }
};

const Model* GetModel(const void* buf);

}  // namespace tflite

#endif  // AURICLE_STUB_SCHEMA_GENERATED_H_
