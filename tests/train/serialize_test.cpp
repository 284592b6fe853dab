// tessera::save / tessera::load (LibTorch's torch::save / torch::load): modules, tensors, lists of
// tensors and optimizers round-trip exactly; a file of one kind is refused as another; plain
// safetensors state dicts load into modules.
#include <gtest/gtest.h>

#include "tessera/tessera.h"
#include "tests/temp_dir.h"

using namespace tessera;

TEST(Serialize, RoundTripsEveryKind) {
  auto dir = tessera::testing::fresh_dir("serialize");
  manual_seed(1);
  auto model = std::make_shared<nn::Sequential>(nn::Linear(3, 4), nn::BatchNorm1d(4), nn::ReLU(), nn::Linear(4, 2));
  optim::Adam opt(model->parameters(), optim::AdamOptions(0.01));
  Tensor x = randn({8, 3});
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    (*model)(x).pow(2).mean().backward();
    opt.step();
  }
  save(model, (dir / "model.safetensors").string());
  save(opt, (dir / "opt.safetensors").string());
  // A fresh model and optimizer restored from the files continue exactly as the originals do.
  manual_seed(2);
  auto copy = std::make_shared<nn::Sequential>(nn::Linear(3, 4), nn::BatchNorm1d(4), nn::ReLU(), nn::Linear(4, 2));
  optim::Adam opt2(copy->parameters(), optim::AdamOptions(0.01));
  load(copy, (dir / "model.safetensors").string());
  load(opt2, (dir / "opt.safetensors").string());
  for (auto* o : {&opt, &opt2}) {
    auto& m = o == &opt ? model : copy;
    o->zero_grad();
    (*m)(x).pow(2).mean().backward();
    o->step();
  }
  auto a = model->state_dict(), b = copy->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(ops::equal(a[i].second, b[i].second)) << a[i].first;
  // Tensors and lists (more than ten, so that text order differs from position order).
  Tensor t = arange(0, 6, 1, {DType::Int64}).reshape({2, 3}), back;
  save(t, (dir / "t.safetensors").string());
  load(back, (dir / "t.safetensors").string());
  EXPECT_TRUE(ops::equal(t, back));
  std::vector<Tensor> list, list_back;
  for (int i = 0; i < 12; ++i) list.push_back(full({i + 1}, double(i)));
  save(list, (dir / "list.safetensors").string());
  load(list_back, (dir / "list.safetensors").string());
  ASSERT_EQ(list_back.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(ops::equal(list[size_t(i)], list_back[size_t(i)])) << i;
  // A plain safetensors state dict loads into a module.
  io::NamedTensors sd;
  for (auto& [k, v] : model->state_dict()) sd.emplace_back(k, v);
  io::save_safetensors((dir / "plain.safetensors").string(), sd);
  load(copy, (dir / "plain.safetensors").string());
}

TEST(Serialize, RefusesTheWrongKind) {
  auto dir = tessera::testing::fresh_dir("serialize_errors");
  nn::Linear fc(2, 2);
  optim::SGD sgd(fc.parameters(), optim::SGDOptions(0.1));
  save(fc, (dir / "m.safetensors").string());
  save(ones({2}), (dir / "t.safetensors").string());
  Tensor t;
  std::vector<Tensor> ts;
  EXPECT_THROW(load(t, (dir / "m.safetensors").string()), IOError);
  EXPECT_THROW(load(ts, (dir / "t.safetensors").string()), IOError);
  EXPECT_THROW(load(sgd, (dir / "m.safetensors").string()), IOError);
  EXPECT_THROW(load(fc, (dir / "t.safetensors").string()), IOError);
  optim::Adam adam(fc.parameters());
  save(sgd, (dir / "sgd.safetensors").string());
  EXPECT_THROW(load(adam, (dir / "sgd.safetensors").string()), ValueError);  // another optimizer
  nn::Linear other(3, 2);
  EXPECT_THROW(load(other, (dir / "m.safetensors").string()), Error);  // shapes differ (strict)
  EXPECT_THROW(load(t, (dir / "missing.safetensors").string()), IOError);
}
