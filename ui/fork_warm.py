"""Imported by the training fork server only (`train_worker.context`): one probe adaptation at import, so that the
first `torch.func.grad` of every training process forked from it is not its first in the process family."""

from ui import train_worker

train_worker.warm_in_fork_server()
