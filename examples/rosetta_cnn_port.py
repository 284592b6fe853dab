# examples/rosetta_cnn_port.py: a PyTorch script for the Rosetta CIFAR CNN, ported by changing the imports.
import sys

if "--torch" in sys.argv:  # the original
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
else:  # the port: these three lines are the whole change
    import tessera as torch
    import tessera.nn as nn
    import tessera.nn.functional as F


class RosettaCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 50, 3, padding=1)
        self.conv2 = nn.Conv2d(50, 50, 3, padding=1)
        self.conv3 = nn.Conv2d(50, 100, 3, padding=1)
        self.conv4 = nn.Conv2d(100, 100, 3, padding=1)
        self.fc1 = nn.Linear(6400, 512)
        self.fc2 = nn.Linear(512, classes)
        self.drop1, self.drop2 = nn.Dropout(0.25), nn.Dropout(0.5)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.drop1(F.relu(F.max_pool2d(self.conv2(x), 2)))  # ReLU after the pool
        x = F.relu(self.conv3(x))
        x = self.drop1(F.relu(F.max_pool2d(self.conv4(x), 2)))
        x = self.drop2(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


def init_weights(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)


torch.manual_seed(0)
model = RosettaCNN()
model.apply(init_weights)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
criterion = nn.CrossEntropyLoss()
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))

x = torch.rand(256, 3, 32, 32)  # random data of CIFAR-10's shape (speed does not depend on it)
y = torch.randint(0, 10, (256,))
for epoch in range(3):
    model.train()
    for i in range(0, 256, 64):
        optimizer.zero_grad()
        loss = criterion(model(x[i:i + 64]), y[i:i + 64])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}, train accuracy {accuracy:.3f}")
