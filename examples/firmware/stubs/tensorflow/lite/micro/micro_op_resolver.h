// STUB of TFLM's micro_op_resolver.h (see micro_mutable_op_resolver.h here).
#ifndef AURICLE_STUB_MICRO_OP_RESOLVER_H_
#define AURICLE_STUB_MICRO_OP_RESOLVER_H_

namespace tflite {

class MicroOpResolver {
 public:
  virtual ~MicroOpResolver() {}
};

}  // namespace tflite

#endif  // AURICLE_STUB_MICRO_OP_RESOLVER_H_
