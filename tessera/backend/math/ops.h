#pragma once
// The primitive elementwise and reduction ops of the Backend contract. Every table indexed by
// these enums (op names, functors, exporters, conformance cases) checks its size against Count.
#include <cstdint>

namespace tessera {

enum class UnaryOp : uint8_t {
  Abs, Neg, Exp, Expm1, Log, Log1p, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, GeluErf, GeluTanh,
  Silu, Erf, Floor, Ceil, Round, Sign, Reciprocal, Square, LogicalNot, BitwiseNot, Count
};
enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Atan2, Fmod, BitwiseAnd, BitwiseOr, BitwiseXor, Eq, Ne, Lt, Le,
  Gt, Ge, LogicalAnd, LogicalOr, LogicalXor, Count
};
enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Any, All, Count };

inline constexpr int kNumUnaryOps = int(UnaryOp::Count);
inline constexpr int kNumBinaryOps = int(BinaryOp::Count);
inline constexpr int kNumReduceOps = int(ReduceOp::Count);

// Comparisons and logical ops produce bool whatever their operands' dtype.
constexpr bool produces_bool(BinaryOp op) { return op >= BinaryOp::Eq; }

}  // namespace tessera
