// STUB of TFLite Micro's micro_mutable_op_resolver.h, for compiling Auricle's
// generated sources and examples/firmware on a host without the TFLM source
// tree. It declares the same class and Add*() names (one per builtin op that
// tflite-micro 0.dev20261023182759 has a kernel for; tests/test_fw_export.py
// keeps the list in step with firmware_bridge.tflm) but registers nothing:
// it proves the generated code calls the real API, not that it runs. For a
// device build, put the real TFLM tree on the include path instead of stubs/.
#ifndef AURICLE_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
#define AURICLE_STUB_MICRO_MUTABLE_OP_RESOLVER_H_

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_op_resolver.h"

namespace tflite {

enum BuiltinOperator {
  BuiltinOperator_ABS,
  BuiltinOperator_ADD,
  BuiltinOperator_ADD_N,
  BuiltinOperator_ARG_MAX,
  BuiltinOperator_ARG_MIN,
  BuiltinOperator_ASSIGN_VARIABLE,
  BuiltinOperator_AVERAGE_POOL_2D,
  BuiltinOperator_BATCH_MATMUL,
  BuiltinOperator_BATCH_TO_SPACE_ND,
  BuiltinOperator_BROADCAST_ARGS,
  BuiltinOperator_BROADCAST_TO,
  BuiltinOperator_CALL_ONCE,
  BuiltinOperator_CAST,
  BuiltinOperator_CEIL,
  BuiltinOperator_CONCATENATION,
  BuiltinOperator_CONV_2D,
  BuiltinOperator_COS,
  BuiltinOperator_CUMSUM,
  BuiltinOperator_DEPTHWISE_CONV_2D,
  BuiltinOperator_DEPTH_TO_SPACE,
  BuiltinOperator_DEQUANTIZE,
  BuiltinOperator_DIV,
  BuiltinOperator_DYNAMIC_UPDATE_SLICE,
  BuiltinOperator_ELU,
  BuiltinOperator_EMBEDDING_LOOKUP,
  BuiltinOperator_EQUAL,
  BuiltinOperator_EXP,
  BuiltinOperator_EXPAND_DIMS,
  BuiltinOperator_FILL,
  BuiltinOperator_FLOOR,
  BuiltinOperator_FLOOR_DIV,
  BuiltinOperator_FLOOR_MOD,
  BuiltinOperator_FULLY_CONNECTED,
  BuiltinOperator_GATHER,
  BuiltinOperator_GATHER_ND,
  BuiltinOperator_GREATER,
  BuiltinOperator_GREATER_EQUAL,
  BuiltinOperator_HARD_SWISH,
  BuiltinOperator_IF,
  BuiltinOperator_L2_NORMALIZATION,
  BuiltinOperator_L2_POOL_2D,
  BuiltinOperator_LEAKY_RELU,
  BuiltinOperator_LESS,
  BuiltinOperator_LESS_EQUAL,
  BuiltinOperator_LOG,
  BuiltinOperator_LOGICAL_AND,
  BuiltinOperator_LOGICAL_NOT,
  BuiltinOperator_LOGICAL_OR,
  BuiltinOperator_LOGISTIC,
  BuiltinOperator_LOG_SOFTMAX,
  BuiltinOperator_MAXIMUM,
  BuiltinOperator_MAX_POOL_2D,
  BuiltinOperator_MEAN,
  BuiltinOperator_MINIMUM,
  BuiltinOperator_MIRROR_PAD,
  BuiltinOperator_MUL,
  BuiltinOperator_NEG,
  BuiltinOperator_NOT_EQUAL,
  BuiltinOperator_PACK,
  BuiltinOperator_PAD,
  BuiltinOperator_PADV2,
  BuiltinOperator_PRELU,
  BuiltinOperator_QUANTIZE,
  BuiltinOperator_READ_VARIABLE,
  BuiltinOperator_REDUCE_ALL,
  BuiltinOperator_REDUCE_MAX,
  BuiltinOperator_REDUCE_MIN,
  BuiltinOperator_RELU,
  BuiltinOperator_RELU6,
  BuiltinOperator_RESHAPE,
  BuiltinOperator_RESIZE_BILINEAR,
  BuiltinOperator_RESIZE_NEAREST_NEIGHBOR,
  BuiltinOperator_REVERSE_V2,
  BuiltinOperator_ROUND,
  BuiltinOperator_RSQRT,
  BuiltinOperator_SELECT_V2,
  BuiltinOperator_SHAPE,
  BuiltinOperator_SIN,
  BuiltinOperator_SLICE,
  BuiltinOperator_SOFTMAX,
  BuiltinOperator_SPACE_TO_BATCH_ND,
  BuiltinOperator_SPACE_TO_DEPTH,
  BuiltinOperator_SPLIT,
  BuiltinOperator_SPLIT_V,
  BuiltinOperator_SQRT,
  BuiltinOperator_SQUARE,
  BuiltinOperator_SQUARED_DIFFERENCE,
  BuiltinOperator_SQUEEZE,
  BuiltinOperator_STRIDED_SLICE,
  BuiltinOperator_SUB,
  BuiltinOperator_SUM,
  BuiltinOperator_SVDF,
  BuiltinOperator_TANH,
  BuiltinOperator_TRANSPOSE,
  BuiltinOperator_TRANSPOSE_CONV,
  BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM,
  BuiltinOperator_UNPACK,
  BuiltinOperator_VAR_HANDLE,
  BuiltinOperator_WHILE,
  BuiltinOperator_ZEROS_LIKE
};

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  TfLiteStatus AddAbs() { return Add(BuiltinOperator_ABS); }
  TfLiteStatus AddAdd() { return Add(BuiltinOperator_ADD); }
  TfLiteStatus AddAddN() { return Add(BuiltinOperator_ADD_N); }
  TfLiteStatus AddArgMax() { return Add(BuiltinOperator_ARG_MAX); }
  TfLiteStatus AddArgMin() { return Add(BuiltinOperator_ARG_MIN); }
  TfLiteStatus AddAssignVariable() { return Add(BuiltinOperator_ASSIGN_VARIABLE); }
  TfLiteStatus AddAveragePool2d() { return Add(BuiltinOperator_AVERAGE_POOL_2D); }
  TfLiteStatus AddBatchMatMul() { return Add(BuiltinOperator_BATCH_MATMUL); }
  TfLiteStatus AddBatchToSpaceNd() { return Add(BuiltinOperator_BATCH_TO_SPACE_ND); }
  TfLiteStatus AddBroadcastArgs() { return Add(BuiltinOperator_BROADCAST_ARGS); }
  TfLiteStatus AddBroadcastTo() { return Add(BuiltinOperator_BROADCAST_TO); }
  TfLiteStatus AddCallOnce() { return Add(BuiltinOperator_CALL_ONCE); }
  TfLiteStatus AddCast() { return Add(BuiltinOperator_CAST); }
  TfLiteStatus AddCeil() { return Add(BuiltinOperator_CEIL); }
  TfLiteStatus AddConcatenation() { return Add(BuiltinOperator_CONCATENATION); }
  TfLiteStatus AddConv2d() { return Add(BuiltinOperator_CONV_2D); }
  TfLiteStatus AddCos() { return Add(BuiltinOperator_COS); }
  TfLiteStatus AddCumSum() { return Add(BuiltinOperator_CUMSUM); }
  TfLiteStatus AddDepthwiseConv2d() { return Add(BuiltinOperator_DEPTHWISE_CONV_2D); }
  TfLiteStatus AddDepthToSpace() { return Add(BuiltinOperator_DEPTH_TO_SPACE); }
  TfLiteStatus AddDequantize() { return Add(BuiltinOperator_DEQUANTIZE); }
  TfLiteStatus AddDiv() { return Add(BuiltinOperator_DIV); }
  TfLiteStatus AddDynamicUpdateSlice() { return Add(BuiltinOperator_DYNAMIC_UPDATE_SLICE); }
  TfLiteStatus AddElu() { return Add(BuiltinOperator_ELU); }
  TfLiteStatus AddEmbeddingLookup() { return Add(BuiltinOperator_EMBEDDING_LOOKUP); }
  TfLiteStatus AddEqual() { return Add(BuiltinOperator_EQUAL); }
  TfLiteStatus AddExp() { return Add(BuiltinOperator_EXP); }
  TfLiteStatus AddExpandDims() { return Add(BuiltinOperator_EXPAND_DIMS); }
  TfLiteStatus AddFill() { return Add(BuiltinOperator_FILL); }
  TfLiteStatus AddFloor() { return Add(BuiltinOperator_FLOOR); }
  TfLiteStatus AddFloorDiv() { return Add(BuiltinOperator_FLOOR_DIV); }
  TfLiteStatus AddFloorMod() { return Add(BuiltinOperator_FLOOR_MOD); }
  TfLiteStatus AddFullyConnected() { return Add(BuiltinOperator_FULLY_CONNECTED); }
  TfLiteStatus AddGather() { return Add(BuiltinOperator_GATHER); }
  TfLiteStatus AddGatherNd() { return Add(BuiltinOperator_GATHER_ND); }
  TfLiteStatus AddGreater() { return Add(BuiltinOperator_GREATER); }
  TfLiteStatus AddGreaterEqual() { return Add(BuiltinOperator_GREATER_EQUAL); }
  TfLiteStatus AddHardSwish() { return Add(BuiltinOperator_HARD_SWISH); }
  TfLiteStatus AddIf() { return Add(BuiltinOperator_IF); }
  TfLiteStatus AddL2Normalization() { return Add(BuiltinOperator_L2_NORMALIZATION); }
  TfLiteStatus AddL2Pool2d() { return Add(BuiltinOperator_L2_POOL_2D); }
  TfLiteStatus AddLeakyRelu() { return Add(BuiltinOperator_LEAKY_RELU); }
  TfLiteStatus AddLess() { return Add(BuiltinOperator_LESS); }
  TfLiteStatus AddLessEqual() { return Add(BuiltinOperator_LESS_EQUAL); }
  TfLiteStatus AddLog() { return Add(BuiltinOperator_LOG); }
  TfLiteStatus AddLogicalAnd() { return Add(BuiltinOperator_LOGICAL_AND); }
  TfLiteStatus AddLogicalNot() { return Add(BuiltinOperator_LOGICAL_NOT); }
  TfLiteStatus AddLogicalOr() { return Add(BuiltinOperator_LOGICAL_OR); }
  TfLiteStatus AddLogistic() { return Add(BuiltinOperator_LOGISTIC); }
  TfLiteStatus AddLogSoftmax() { return Add(BuiltinOperator_LOG_SOFTMAX); }
  TfLiteStatus AddMaximum() { return Add(BuiltinOperator_MAXIMUM); }
  TfLiteStatus AddMaxPool2d() { return Add(BuiltinOperator_MAX_POOL_2D); }
  TfLiteStatus AddMean() { return Add(BuiltinOperator_MEAN); }
  TfLiteStatus AddMinimum() { return Add(BuiltinOperator_MINIMUM); }
  TfLiteStatus AddMirrorPad() { return Add(BuiltinOperator_MIRROR_PAD); }
  TfLiteStatus AddMul() { return Add(BuiltinOperator_MUL); }
  TfLiteStatus AddNeg() { return Add(BuiltinOperator_NEG); }
  TfLiteStatus AddNotEqual() { return Add(BuiltinOperator_NOT_EQUAL); }
  TfLiteStatus AddPack() { return Add(BuiltinOperator_PACK); }
  TfLiteStatus AddPad() { return Add(BuiltinOperator_PAD); }
  TfLiteStatus AddPadV2() { return Add(BuiltinOperator_PADV2); }
  TfLiteStatus AddPrelu() { return Add(BuiltinOperator_PRELU); }
  TfLiteStatus AddQuantize() { return Add(BuiltinOperator_QUANTIZE); }
  TfLiteStatus AddReadVariable() { return Add(BuiltinOperator_READ_VARIABLE); }
  TfLiteStatus AddReduceAll() { return Add(BuiltinOperator_REDUCE_ALL); }
  TfLiteStatus AddReduceMax() { return Add(BuiltinOperator_REDUCE_MAX); }
  TfLiteStatus AddReduceMin() { return Add(BuiltinOperator_REDUCE_MIN); }
  TfLiteStatus AddRelu() { return Add(BuiltinOperator_RELU); }
  TfLiteStatus AddRelu6() { return Add(BuiltinOperator_RELU6); }
  TfLiteStatus AddReshape() { return Add(BuiltinOperator_RESHAPE); }
  TfLiteStatus AddResizeBilinear() { return Add(BuiltinOperator_RESIZE_BILINEAR); }
  TfLiteStatus AddResizeNearestNeighbor() { return Add(BuiltinOperator_RESIZE_NEAREST_NEIGHBOR); }
  TfLiteStatus AddReverseV2() { return Add(BuiltinOperator_REVERSE_V2); }
  TfLiteStatus AddRound() { return Add(BuiltinOperator_ROUND); }
  TfLiteStatus AddRsqrt() { return Add(BuiltinOperator_RSQRT); }
  TfLiteStatus AddSelectV2() { return Add(BuiltinOperator_SELECT_V2); }
  TfLiteStatus AddShape() { return Add(BuiltinOperator_SHAPE); }
  TfLiteStatus AddSin() { return Add(BuiltinOperator_SIN); }
  TfLiteStatus AddSlice() { return Add(BuiltinOperator_SLICE); }
  TfLiteStatus AddSoftmax() { return Add(BuiltinOperator_SOFTMAX); }
  TfLiteStatus AddSpaceToBatchNd() { return Add(BuiltinOperator_SPACE_TO_BATCH_ND); }
  TfLiteStatus AddSpaceToDepth() { return Add(BuiltinOperator_SPACE_TO_DEPTH); }
  TfLiteStatus AddSplit() { return Add(BuiltinOperator_SPLIT); }
  TfLiteStatus AddSplitV() { return Add(BuiltinOperator_SPLIT_V); }
  TfLiteStatus AddSqrt() { return Add(BuiltinOperator_SQRT); }
  TfLiteStatus AddSquare() { return Add(BuiltinOperator_SQUARE); }
  TfLiteStatus AddSquaredDifference() { return Add(BuiltinOperator_SQUARED_DIFFERENCE); }
  TfLiteStatus AddSqueeze() { return Add(BuiltinOperator_SQUEEZE); }
  TfLiteStatus AddStridedSlice() { return Add(BuiltinOperator_STRIDED_SLICE); }
  TfLiteStatus AddSub() { return Add(BuiltinOperator_SUB); }
  TfLiteStatus AddSum() { return Add(BuiltinOperator_SUM); }
  TfLiteStatus AddSvdf() { return Add(BuiltinOperator_SVDF); }
  TfLiteStatus AddTanh() { return Add(BuiltinOperator_TANH); }
  TfLiteStatus AddTranspose() { return Add(BuiltinOperator_TRANSPOSE); }
  TfLiteStatus AddTransposeConv() { return Add(BuiltinOperator_TRANSPOSE_CONV); }
  TfLiteStatus AddUnidirectionalSequenceLSTM() { return Add(BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM); }
  TfLiteStatus AddUnpack() { return Add(BuiltinOperator_UNPACK); }
  TfLiteStatus AddVarHandle() { return Add(BuiltinOperator_VAR_HANDLE); }
  TfLiteStatus AddWhile() { return Add(BuiltinOperator_WHILE); }
  TfLiteStatus AddZerosLike() { return Add(BuiltinOperator_ZEROS_LIKE); }
  unsigned int GetRegistrationLength() const { return count_; }

 private:
  TfLiteStatus Add(BuiltinOperator op) {
    for (unsigned int i = 0; i < count_; ++i) {
      if (ops_[i] == op) return kTfLiteError;  // as TFLM: each op once
    }
    if (count_ >= tOpCount) return kTfLiteError;  // as TFLM: resolver too small
    ops_[count_++] = op;
    return kTfLiteOk;
  }
  BuiltinOperator ops_[tOpCount];
  unsigned int count_ = 0;
};

}  // namespace tflite

#endif  // AURICLE_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
