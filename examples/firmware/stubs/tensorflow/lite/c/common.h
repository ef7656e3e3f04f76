// STUB of the parts of TFLite's c/common.h that Auricle's firmware example
// uses (see micro_mutable_op_resolver.h in this folder for why stubs exist).
#ifndef AURICLE_STUB_COMMON_H_
#define AURICLE_STUB_COMMON_H_

#include <stddef.h>
#include <stdint.h>

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt8 = 9 } TfLiteType;

typedef struct TfLiteIntArray {
  int size;
  int data[4];
} TfLiteIntArray;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef union TfLitePtrUnion {
  int8_t* int8;
  float* f;
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  size_t bytes;
} TfLiteTensor;

#endif  // AURICLE_STUB_COMMON_H_
