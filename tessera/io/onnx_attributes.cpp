// Every attribute of every operator tessera runs, checked when a file is read: an attribute the
// importer does not honour, or a value it does not implement, is refused then (naming the node,
// the op, its opset and the attribute) instead of being ignored or failing at the first run.
#include <unordered_map>

#include "tessera/io/onnx_internal.h"

namespace tessera::io::internal {

namespace {

// An attribute tessera reads; `values` (when not empty) lists the values it implements, strings
// as written, integers in decimal.
struct Rule {
  const char* name;
  std::vector<std::string> values = {};
};
using Rules = std::vector<Rule>;

const std::unordered_map<std::string, Rules>& rules() {
  static const std::unordered_map<std::string, Rules> table = [] {
    std::unordered_map<std::string, Rules> t;
    const Rules none{};
    const Rules legacy{{"consumed_inputs"}};  // opset 6 and older: a memory hint, no meaning
    const Rules broadcast{{"broadcast"}, {"axis"}};  // before opset 7
    const Rule auto_pad{"auto_pad", {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"}};
    const Rules conv{auto_pad, {"dilations"}, {"group"}, {"kernel_shape"}, {"pads"}, {"strides"}};
    const Rules reduce{{"axes"}, {"keepdims"}, {"noop_with_empty_axes"}};
    for (const char* op : {"Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cos", "Cosh", "Det", "Erf", "Expand",
                           "GlobalAveragePool", "GlobalMaxPool", "GreaterOrEqual", "HardSwish", "Identity", "IsNaN",
                           "LessOrEqual", "MatMul", "MatMulInteger", "Mish", "NonZero", "Not", "QLinearMatMul",
                           "Range", "Round", "Sign", "Sin", "Sinh", "Size", "Softplus", "Softsign", "Tan", "Tile",
                           "Where", "DynamicQuantizeLinear", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"})
      t[op] = none;
    for (const char* op : {"Abs", "Ceil", "Exp", "Floor", "Log", "Max", "Mean", "Min", "Neg", "PRelu", "Reciprocal",
                           "Relu", "Sigmoid", "Sqrt", "Sum", "Tanh"})
      t[op] = legacy;
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) t[op] = {{"broadcast"}, {"axis"}, {"consumed_inputs"}};
    for (const char* op : {"And", "Or", "Xor", "Equal", "Greater", "Less", "Pow"}) t[op] = broadcast;
    for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                           "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
      t[op] = reduce;
    for (const char* op : {"ArgMax", "ArgMin"}) t[op] = {{"axis"}, {"keepdims"}, {"select_last_index"}};
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax", "Concat", "Flatten", "Gather", "GatherElements",
                           "Scatter"})
      t[op] = {{"axis"}};
    for (const char* op : {"Conv", "ConvInteger", "QLinearConv"}) t[op] = conv;
    t["ConvTranspose"] = {auto_pad, {"dilations"}, {"group"}, {"kernel_shape"}, {"output_padding"},
                          {"output_shape"}, {"pads"}, {"strides"}};
    t["AveragePool"] = {auto_pad, {"ceil_mode"}, {"count_include_pad"}, {"dilations"}, {"kernel_shape"}, {"pads"},
                        {"strides"}};
    t["MaxPool"] = {auto_pad, {"ceil_mode"}, {"dilations"}, {"kernel_shape"}, {"pads"}, {"storage_order"},
                    {"strides"}};
    t["LpPool"] = {auto_pad, {"ceil_mode"}, {"dilations"}, {"kernel_shape"}, {"p"}, {"pads"}, {"strides"}};
    t["MaxUnpool"] = {{"kernel_shape"}, {"pads"}, {"strides"}};
    t["BatchNormalization"] = {{"epsilon"}, {"momentum"}, {"training_mode"}, {"spatial", {"1"}},
                               {"is_test", {"1"}}, {"consumed_inputs"}};
    t["InstanceNormalization"] = {{"epsilon"}, {"consumed_inputs"}};
    t["LayerNormalization"] = {{"axis"}, {"epsilon"}, {"stash_type", {"1"}}};
    t["RMSNormalization"] = {{"axis"}, {"epsilon"}, {"stash_type", {"1"}}};
    t["GroupNormalization"] = {{"epsilon"}, {"num_groups"}, {"stash_type", {"1"}}};
    t["MeanVarianceNormalization"] = {{"axes"}};
    t["LpNormalization"] = {{"axis"}, {"p", {"1", "2"}}};
    t["LRN"] = {{"alpha"}, {"beta"}, {"bias"}, {"size"}};
    t["Dropout"] = {{"ratio"}, {"seed"}, {"is_test"}, {"consumed_inputs"}};  // inference: the identity
    t["Elu"] = {{"alpha"}, {"consumed_inputs"}};
    t["LeakyRelu"] = {{"alpha"}, {"consumed_inputs"}};
    t["HardSigmoid"] = {{"alpha"}, {"beta"}, {"consumed_inputs"}};
    t["Selu"] = {{"alpha"}, {"gamma"}, {"consumed_inputs"}};
    t["ThresholdedRelu"] = {{"alpha"}};
    t["Shrink"] = {{"bias"}, {"lambd"}};
    t["Gelu"] = {{"approximate", {"none", "tanh"}}};
    t["Clip"] = {{"min"}, {"max"}, {"consumed_inputs"}};
    t["Mod"] = {{"fmod", {"0", "1"}}};
    t["IsInf"] = {{"detect_negative"}, {"detect_positive"}};
    t["Cast"] = {{"to"}, {"saturate"}};  // saturate concerns float8 only
    t["CastLike"] = {{"saturate"}};
    t["Gemm"] = {{"alpha"}, {"beta"}, {"transA"}, {"transB"}, {"broadcast"}};
    t["Reshape"] = {{"allowzero"}};
    t["Transpose"] = {{"perm"}};
    t["Squeeze"] = {{"axes"}};
    t["Unsqueeze"] = {{"axes"}};
    t["Split"] = {{"axis"}, {"split"}, {"num_outputs"}};
    t["Slice"] = {{"starts"}, {"ends"}, {"axes"}};
    t["Shape"] = {{"start"}, {"end"}};
    t["ConstantOfShape"] = {{"value"}};
    t["Pad"] = {{"mode", {"constant", "reflect", "edge", "wrap"}}, {"pads"}, {"value"}};
    t["CenterCropPad"] = {{"axes"}};
    t["GatherND"] = {{"batch_dims"}};
    t["ScatterND"] = {{"reduction", {"none", "add", "mul", "max", "min"}}};
    t["ScatterElements"] = {{"axis"}, {"reduction", {"none", "add", "mul", "max", "min"}}};
    t["CumSum"] = {{"exclusive"}, {"reverse"}};
    t["Trilu"] = {{"upper"}};
    t["EyeLike"] = {{"dtype"}, {"k"}};
    for (const char* op : {"HannWindow", "HammingWindow", "BlackmanWindow"}) t[op] = {{"output_datatype"}, {"periodic"}};
    t["NegativeLogLikelihoodLoss"] = {{"ignore_index"}, {"reduction", {"none", "sum", "mean"}}};
    t["SoftmaxCrossEntropyLoss"] = {{"ignore_index"}, {"reduction", {"none", "sum", "mean"}}};
    t["Attention"] = {{"is_causal"}, {"kv_num_heads"}, {"q_num_heads"}, {"qk_matmul_output_mode", {"0", "1", "2", "3"}},
                      {"scale"}, {"softcap"}, {"softmax_precision"}};
    t["RotaryEmbedding"] = {{"interleaved"}, {"num_heads"}, {"rotary_embedding_dim"}};
    t["Resize"] = {{"antialias"}, {"axes"},
                   {"coordinate_transformation_mode", {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                                       "align_corners", "asymmetric", "tf_crop_and_resize"}},
                   {"cubic_coeff_a"}, {"exclude_outside"}, {"extrapolation_value"},
                   {"keep_aspect_ratio_policy", {"stretch", "not_larger", "not_smaller"}},
                   {"mode", {"nearest", "linear", "cubic"}},
                   {"nearest_mode", {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}}};
    t["Upsample"] = {{"mode", {"nearest", "linear", "bilinear"}}, {"scales"}};
    t["GridSample"] = {{"align_corners"}, {"mode", {"bilinear", "nearest", "bicubic", "linear", "cubic"}},
                       {"padding_mode", {"zeros", "border", "reflection"}}};
    t["AffineGrid"] = {{"align_corners"}};
    t["TfIdfVectorizer"] = {{"max_gram_length"}, {"max_skip_count"}, {"min_gram_length"},
                            {"mode", {"TF", "IDF", "TFIDF"}}, {"ngram_counts"}, {"ngram_indexes"}, {"pool_int64s"},
                            {"weights"}};
    for (const char* op : {"RandomUniformLike", "RandomUniform"}) t[op] = {{"dtype"}, {"high"}, {"low"}, {"seed"}, {"shape"}};
    for (const char* op : {"RandomNormalLike", "RandomNormal"}) t[op] = {{"dtype"}, {"mean"}, {"scale"}, {"seed"}, {"shape"}};
    t["Bernoulli"] = {{"dtype"}, {"seed"}};
    t["Col2Im"] = {{"dilations"}, {"pads"}, {"strides"}};
    t["DeformConv"] = {{"dilations"}, {"group"}, {"kernel_shape"}, {"offset_group"}, {"pads"}, {"strides"}};
    t["NonMaxSuppression"] = {{"center_point_box", {"0", "1"}}};
    t["RoiAlign"] = {{"coordinate_transformation_mode", {"half_pixel", "output_half_pixel"}},
                     {"mode", {"avg", "max"}}, {"output_height"}, {"output_width"}, {"sampling_ratio"},
                     {"spatial_scale"}};
    t["DFT"] = {{"axis"}, {"inverse"}, {"onesided"}};
    t["STFT"] = {{"onesided"}};
    t["MelWeightMatrix"] = {{"output_datatype"}};
    t["QuantizeLinear"] = {{"axis"}, {"block_size"}, {"output_dtype"}, {"saturate"}};
    t["DequantizeLinear"] = {{"axis"}, {"block_size"}, {"output_dtype"}};
    const Rule direction{"direction", {"forward", "reverse", "bidirectional"}};
    // activations are checked by the operator (the defaults, and Relu for RNN); clip and the
    // activations' alpha/beta are not implemented.
    t["RNN"] = {direction, {"hidden_size"}, {"layout"}, {"activations"}, {"output_sequence"}};
    t["GRU"] = {direction, {"hidden_size"}, {"layout"}, {"activations"}, {"linear_before_reset"}, {"output_sequence"}};
    t["LSTM"] = {direction, {"hidden_size"}, {"layout"}, {"activations"}, {"input_forget", {"0"}},
                 {"output_sequence"}};
    t["Constant"] = {{"value"}, {"value_float"}, {"value_floats"}, {"value_int"}, {"value_ints"}};
    t["If"] = {{"then_branch"}, {"else_branch"}};
    for (const char* op : {"SequenceConstruct", "SequenceInsert", "SequenceErase", "SequenceAt", "SequenceLength"})
      t[op] = none;
    t["SequenceEmpty"] = {{"dtype"}};
    t["ConcatFromSequence"] = {{"axis"}, {"new_axis"}};
    t["SplitToSequence"] = {{"axis"}, {"keepdims"}};
    t["SequenceMap"] = {{"body"}};
    t["Optional"] = {{"type"}};
    t["StringConcat"] = none;
    t["StringSplit"] = {{"delimiter"}, {"maxsplit"}};
    t["StringNormalizer"] = {{"case_change_action", {"NONE", "LOWER", "UPPER"}}, {"is_case_sensitive"}, {"locale"},
                             {"stopwords"}};
    t["RegexFullMatch"] = {{"pattern"}};
    t["OptionalHasElement"] = none;
    t["OptionalGetElement"] = none;
    t["Loop"] = {{"body"}};
    t["Scan"] = {{"body"}, {"num_scan_inputs"}, {"directions"}, {"scan_input_axes"}, {"scan_input_directions"},
                 {"scan_output_axes"}, {"scan_output_directions"}};
    // ONNX Runtime's operators (com.microsoft, version 1).
    const std::string ms = std::string(kMicrosoftDomain) + ".";
    for (const char* op : {"QLinearAdd", "QLinearMul", "QLinearSigmoid", "DynamicQuantizeMatMul",
                           "MatMulIntegerToFloat", "Gelu", "BiasGelu", "FastGelu"})
      t[ms + op] = none;
    t[ms + "QGemm"] = {{"alpha"}, {"transA"}, {"transB"}};
    t[ms + "QLinearLeakyRelu"] = {{"alpha"}};
    t[ms + "QLinearAveragePool"] = {auto_pad,        {"ceil_mode"}, {"channels_last"}, {"count_include_pad"},
                                    {"kernel_shape"}, {"pads"},      {"strides"}};
    t[ms + "QLinearGlobalAveragePool"] = {{"channels_last"}};
    t[ms + "QLinearSoftmax"] = {{"axis"}, {"opset"}};
    t[ms + "QLinearConcat"] = {{"axis"}};
    const Rule activation{"activation", {"Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid"}};
    t[ms + "FusedConv"] = {activation, {"activation_params"}, auto_pad, {"dilations"}, {"group"}, {"kernel_shape"},
                           {"pads"}, {"strides"}};
    t[ms + "FusedGemm"] = {activation, {"activation_alpha"}, {"activation_beta"}, {"alpha"}, {"beta"}, {"transA"},
                           {"transB"}};
    t[ms + "FusedMatMul"] = {{"alpha"}, {"transA"}, {"transB"}, {"transBatchA", {"0"}}, {"transBatchB", {"0"}}};
    t[ms + "QuickGelu"] = {{"alpha"}};
    t[ms + "SkipLayerNormalization"] = {{"epsilon"}};
    return t;
  }();
  return table;
}

std::string value_text(const onnx::AttributeProto& a) {
  if (a.type() == onnx::AttributeProto::STRING) return a.s();
  if (a.type() == onnx::AttributeProto::INT) return std::to_string(a.i());
  return "";
}

}  // namespace

void check_activations(const onnx::NodeProto& p, int64_t opset, const std::string& where);

void check_attributes(const onnx::NodeProto& p, int64_t opset, const std::string& where) {
  std::string label = p.name().empty() ? (p.output_size() ? p.output(0) : p.op_type()) : p.name();
  const std::string op = op_key(p);
  auto r = rules().find(op);
  TS_CHECK_T(OnnxError, r != rules().end(), where, ": node '", label, "' (", op,
             "): tessera has no attribute rules for op ", op);
  for (const auto& a : p.attribute()) {
    const Rule* rule = nullptr;
    for (const Rule& x : r->second)
      if (a.name() == x.name) rule = &x;
    TS_CHECK_T(OnnxError, rule, where, ": node '", label, "' (", op, "): attribute '", a.name(), "' of op ", op,
               " (opset ", opset, ") is not supported by tessera's importer");
    if (rule->values.empty()) continue;
    std::string v = value_text(a);
    bool ok = false;
    for (const auto& allowed : rule->values) ok = ok || v == allowed;
    std::string list;
    for (const auto& allowed : rule->values) list += (list.empty() ? "" : ", ") + allowed;
    TS_CHECK_T(OnnxError, ok, where, ": node '", label, "' (", op, "): attribute ", a.name(), "=", v, " of op ", op,
               " (opset ", opset, ") is not supported by tessera's importer (it runs ", list, ")");
  }
  if (op == "RNN" || op == "GRU" || op == "LSTM") check_activations(p, opset, where);
}

// The recurrent ops' activations: the defaults per direction (and Relu for RNN), as recurrent()
// in onnx_ops.cpp runs them.
void check_activations(const onnx::NodeProto& p, int64_t opset, const std::string& where) {
  for (const auto& a : p.attribute()) {
    if (a.name() != "activations") continue;
    const std::string& op = p.op_type();
    std::vector<std::string> want = op == "LSTM" ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                    : op == "GRU" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                  : std::vector<std::string>{"Tanh"};
    bool same = a.strings_size() > 0 && size_t(a.strings_size()) % want.size() == 0;
    for (int i = 0; same && i < a.strings_size(); ++i) same = a.strings(i) == want[size_t(i) % want.size()];
    bool relu = op == "RNN" && a.strings_size() >= 1;
    for (int i = 0; relu && i < a.strings_size(); ++i) relu = a.strings(i) == "Relu";
    std::string got;
    for (const auto& s : a.strings()) got += (got.empty() ? "" : ", ") + s;
    TS_CHECK_T(OnnxError, same || relu, where, ": node '", p.name(), "' (", op, "): activations [", got, "] of op ", op,
               " (opset ", opset, ") are not supported by tessera's importer (it runs the defaults",
               op == "RNN" ? " and Relu)" : ")");
  }
}

std::vector<std::string> ops_without_attribute_rules() {
  std::vector<std::string> missing;
  for (const auto& op : operator_names())
    if (!rules().count(op)) missing.push_back(op);
  return missing;
}

}  // namespace tessera::io::internal
