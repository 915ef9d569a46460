"""Optimizers (SGD, Adam, AdamW, RMSprop) with the update rules of torch.optim, and
learning-rate schedules (`optim.lr_scheduler.StepLR`, `CosineAnnealingLR`).

    optimizer = optim.AdamW(model.parameters(), lr=1e-3)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        for x, y in data.batches(X, Y, 32):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        schedule.step()
"""
from . import lr_scheduler
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
