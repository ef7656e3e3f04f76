// STUB of TFLM's micro_interpreter.h: the calls examples/firmware/main.cc makes,
// declared with TFLM's signatures (see micro_mutable_op_resolver.h here).
#ifndef AURICLE_STUB_MICRO_INTERPRETER_H_
#define AURICLE_STUB_MICRO_INTERPRETER_H_

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace tflite {

class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena,
                   size_t tensor_arena_size);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
  size_t arena_used_bytes() const;
};

}  // namespace tflite

#endif  // AURICLE_STUB_MICRO_INTERPRETER_H_
