"""Learning-rate schedules: `step()` once per epoch sets `optimizer.lr` as the PyTorch
schedulers of the same names do, from a closed form of the epoch count (so a resumed schedule
gives the same rates bit for bit).

    schedule = lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(epochs):
        train_one_epoch()
        schedule.step()
"""
import math
import warnings

from ..validation import positive_int
from .optimizers import Optimizer, at_least_zero
from .state import read_count, read_fields, read_float

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]


_STEP_ORDER_MESSAGE = (
    "Detected call of `{}.step()` before `optimizer.step()`. Call them in the opposite order: "
    "`optimizer.step()` (every batch) before the schedule's `step()` (once an epoch). Failure "
    "to do this skips the first value of the learning rate schedule: the first epoch trains at "
    "the second lr.")


class LRScheduler:
    """Base of the schedules: `base_lr` is the optimizer's lr when the schedule was made,
    `last_epoch` the number of `step()` calls so far; `lr_at(epoch)` is the schedule.
    Subclasses list their settings in `settings`: name -> (reader from a state dict, check
    that returns the value to store)."""

    settings = {}

    def __init__(self, optimizer, **settings):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} takes an optimizer (tg.optim.SGD, ...), "
                            f"got {type(optimizer).__name__}")
        for name, value in self.check_settings(**settings).items():
            setattr(self, name, value)
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, epoch):
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set the optimizer's lr for it (a hand-set lr is overwritten).
        A fresh schedule stepped before its optimizer's first step() warns, as PyTorch does:
        the first lr of the schedule would never be used."""
        if self.last_epoch == 0 and not self.optimizer.stepped:
            warnings.warn(_STEP_ORDER_MESSAGE.format(type(self).__name__), UserWarning,
                          stacklevel=2)
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self):
        """[the lr the last `step()` set] (the initial lr before the first step)."""
        return [self.optimizer.lr]

    def state_dict(self):
        """{"base_lr", "last_epoch" and the schedule's settings}: what `load_state_dict` needs
        to continue the schedule."""
        names = ("base_lr", "last_epoch", *self.settings)
        return {name: getattr(self, name) for name in names}

    def load_state_dict(self, state_dict):
        """Restore `state_dict()`'s values (in memory or from `tg.load`); KeyError for missing
        or unknown names, ValueError for a bad value; nothing changes on an error."""
        where = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"{where} takes a state dict (a mapping), got "
                            f"{type(state_dict).__name__}")
        readers = {"base_lr": read_float, "last_epoch": read_count,
                   **{name: read for name, (read, _) in self.settings.items()}}
        values = read_fields(where, readers, state_dict)
        at_least_zero("base_lr", values["base_lr"], where)
        self.check_settings(**{name: values[name] for name in self.settings})
        for name, value in values.items():
            setattr(self, name, value)

    def check_settings(self, **settings):
        """The settings as stored; TypeError/ValueError naming a bad one."""
        return {name: check(name, settings[name], type(self).__name__)
                for name, (_, check) in self.settings.items()}

    def __repr__(self):
        settings = ", ".join(f"{name}={getattr(self, name)}" for name in self.settings)
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """lr = base_lr · gamma^(epoch // step_size): the rate is multiplied by gamma every
    step_size epochs, as torch.optim.lr_scheduler.StepLR."""

    settings = {"step_size": (read_count, positive_int), "gamma": (read_float, at_least_zero)}

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) · (1 + cos(π · epoch / T_max)) / 2: from base_lr
    down to eta_min at epoch T_max (and back up after it, a cosine), as
    torch.optim.lr_scheduler.CosineAnnealingLR."""

    settings = {"T_max": (read_count, positive_int), "eta_min": (read_float, at_least_zero)}

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    def lr_at(self, epoch):
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return self.eta_min + (self.base_lr - self.eta_min) * cosine
