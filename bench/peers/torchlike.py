"""The benchmark models written once against PyTorch's API; `lib` is `torch` or `tessera` (whose
Python API is PyTorch's), so both frameworks run the same code."""
import workloads as W


def _nn(lib):
    return lib.nn, lib.nn.functional


def cnn(lib):
    """Rosetta workload 1: the CIFAR-10 CNN, Glorot-uniform weights and zero biases."""
    nn, F = _nn(lib)

    class RosettaCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 50, 3, padding=1)
            self.conv2 = nn.Conv2d(50, 50, 3, padding=1)
            self.conv3 = nn.Conv2d(50, 100, 3, padding=1)
            self.conv4 = nn.Conv2d(100, 100, 3, padding=1)
            self.fc1 = nn.Linear(6400, 512)
            self.fc2 = nn.Linear(512, 10)
            self.drop1, self.drop2 = nn.Dropout(0.25), nn.Dropout(0.5)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = self.drop1(F.relu(F.max_pool2d(self.conv2(x), 2)))  # ReLU after the pool
            x = F.relu(self.conv3(x))
            x = self.drop1(F.relu(F.max_pool2d(self.conv4(x), 2)))
            x = self.drop2(F.relu(self.fc1(x.flatten(1))))
            return self.fc2(x)

    m = RosettaCNN()
    for layer in (m.conv1, m.conv2, m.conv3, m.conv4, m.fc1, m.fc2):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    return m


def gru(lib):
    """Rosetta workload 3: embedding, one GRU layer, the last step -> 2 classes."""
    nn, _ = _nn(lib)

    class SentimentGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(W.GRU_VOCAB, W.GRU_EMBED)
            self.gru = nn.GRU(W.GRU_EMBED, W.GRU_HIDDEN, batch_first=True)
            self.fc = nn.Linear(W.GRU_HIDDEN, 2)

        def forward(self, x):
            out, _ = self.gru(self.emb(x))
            return self.fc(out[:, -1])

    return SentimentGRU()


def resnet50(lib):
    """torchvision's ResNet-50 v1.5 (the stride in the 3x3 conv), its module names."""
    nn, _ = _nn(lib)

    class Bottleneck(nn.Module):
        def __init__(self, inplanes, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            identity = self.downsample(x) if self.downsample is not None else x
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            inplanes = 64
            for li, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
                layers = []
                for b in range(blocks):
                    down = None
                    if b == 0:
                        down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                             nn.BatchNorm2d(planes * 4))
                    layers.append(Bottleneck(inplanes, planes, stride if b == 0 else 1, down))
                    inplanes = planes * 4
                setattr(self, f"layer{li}", nn.Sequential(*layers))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet50()


def mobilenet(lib):
    nn, _ = _nn(lib)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.dw = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False)
            self.dw_bn = nn.BatchNorm2d(cin)
            self.pw = nn.Conv2d(cin, cout, 1, bias=False)
            self.pw_bn = nn.BatchNorm2d(cout)
            self.act = nn.ReLU6()

        def forward(self, x):
            return self.act(self.pw_bn(self.pw(self.act(self.dw_bn(self.dw(x))))))

    class MobileNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
            self.stem_bn = nn.BatchNorm2d(16)
            self.act = nn.ReLU6()
            self.blocks = nn.Sequential(*[Block(i, o, s) for i, o, s in W.MOBILENET_BLOCKS])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            x = self.blocks(self.act(self.stem_bn(self.stem(x))))
            return self.fc(self.pool(x).flatten(1))

    return MobileNet()


def kws(lib):
    nn, F = _nn(lib)

    class KeywordSpotter(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(W.KWS_FEATURES, W.KWS_CHANNELS, 3, padding=1)
            self.lstm = nn.LSTM(W.KWS_CHANNELS, W.KWS_HIDDEN, batch_first=True)
            self.fc = nn.Linear(W.KWS_HIDDEN, W.KWS_CLASSES)

        def forward(self, x):  # x: [batch, frames, features]
            h = F.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
            out, _ = self.lstm(h)
            return self.fc(out[:, -1])

    return KeywordSpotter()


MODELS = {"cnn": cnn, "gru": gru, "resnet50": resnet50, "mobilenet": mobilenet, "kws": kws}


def build(lib, model, weights=None):
    m = MODELS[model](lib)
    if weights is not None:
        m.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in weights.items()}, strict=False)
    return m


def train_step(lib, model, name, data, channels_last=False, compiled=None, bf16=False):
    """A training step closure: forward, cross-entropy, backward, the update (the Rosetta
    optimizers: SGD 0.01 momentum 0.9 for the CNN, Adam 1e-3 for the GRU). Returns the loss.
    bf16: the forward pass and the loss under autocast("cpu", bfloat16)."""
    import contextlib
    F = lib.nn.functional
    x, y = lib.from_numpy(data["x"]), lib.from_numpy(data["y"])
    if channels_last:
        model = model.to(memory_format=lib.channels_last)
        x = x.contiguous(memory_format=lib.channels_last)
    if name == "cnn_train":
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = lib.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    model.train()
    forward = compiled(model) if compiled else model

    def step():
        opt.zero_grad()
        with lib.autocast("cpu", dtype=lib.bfloat16) if bf16 else contextlib.nullcontext():
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())
    return step


def infer_step(lib, model, data, channels_last=False, compiled=None):
    """An inference closure (eval mode, no autograd) returning the output as numpy."""
    x = lib.from_numpy(data["x"])
    model.eval()
    if channels_last:
        model = model.to(memory_format=lib.channels_last)
        x = x.contiguous(memory_format=lib.channels_last)
    forward = compiled(model) if compiled else model

    def step():
        with lib.no_grad():
            return forward(x).numpy()
    return step
