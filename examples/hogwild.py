# examples/hogwild.py: Hogwild training as PyTorch's example does it: one model in shared
# memory, several processes running SGD on it at once.
import tessera as torch
import tessera.multiprocessing as mp
import tessera.nn.functional as F


def train(rank, model, x, y):
    torch.manual_seed(rank)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    for _ in range(50):
        i = torch.randint(0, x.shape[0], (32,))
        opt.zero_grad()
        F.cross_entropy(model(x[i]), y[i]).backward()
        opt.step()


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(512, 10)
    y = (x[:, :3].sum(1) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    model.share_memory()  # parameters in shared memory: every process updates the same ones
    procs = [mp.Process(target=train, args=(rank, model, x, y)) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"accuracy after Hogwild training: {accuracy:.3f}")
    assert all(p.exitcode == 0 for p in procs) and accuracy > 0.9
