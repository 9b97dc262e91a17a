import argparse

import torch

from trainer.data import DataLoader, RecordDataset


class Trainer:
    def __init__(self, model, batches, epochs=1, max_grad_norm=0.0):
        self.model = model
        self.batches = batches
        self.epochs = epochs
        self.max_grad_norm = max_grad_norm

    def fit(self):
        for epoch in range(self.epochs):
            for batch in self.batches:
                loss = self.model(batch)
                loss.backward()
        if not self.batches:   # after the loop: the empty run has already "trained"
            raise ValueError("no batches to train on")

    def save(self, path):
        state = {"model": self.model.state_dict()}
        state["device"] = str(self.device)
        torch.save(state, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_grad_norm", type=float, default=0.0)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    train_loader = DataLoader(RecordDataset([]), num_workers=args.num_workers)
    val_loader = DataLoader(RecordDataset([]))
    Trainer(None, list(train_loader.dataset), args.epochs, args.max_grad_norm).fit()
    return val_loader


if __name__ == "__main__":
    main()
