"""The training-task contract: the five tasks follow ``helpers.tasks.Task``, and they shuffle by one epoch plan."""
import pytest
import torch

from helpers.forecasting import ForecastTask
from helpers.long_range import AddingTask
from helpers.seq2seq import Seq2SeqTask, make_date_data
from helpers.tasks import CharLMTask, SentimentTask, Task, epoch_plan, epoch_seed, missing_members
from helpers.train import TrainConfig, train

CPU = torch.device("cpu")


def tasks() -> dict:
    """One small instance of each task of the course."""
    ids = torch.arange(600) % 17
    seqs = [[1 + (i * 7 + j) % 40 for j in range(1 + i % 9)] for i in range(100)]
    labels = [i % 2 for i in range(100)]
    dates = make_date_data(n_train=64, n_val=8, n_test=1, max_dates=1)
    return {"char_lm": CharLMTask(ids[:500], ids[500:], batch_size=4, seq_len=8, mode="random"),
            "sentiment": SentimentTask((seqs, labels), (seqs[:10], labels[:10]), batch_size=16),
            "adding": AddingTask(10, batch_size=8, val_size=16),
            "forecast": ForecastTask(torch.sin(torch.arange(300) / 5.0), 200, 250, window=20, batch_size=16),
            "seq2seq": Seq2SeqTask(dates["train"], dates["val"], dates["vocab"], batch_size=16)}


@pytest.mark.parametrize("name", ["char_lm", "sentiment", "adding", "forecast", "seq2seq"])
def test_every_task_of_the_course_follows_the_protocol(name):
    task = tasks()[name]
    assert isinstance(task, Task) and missing_members(task) == []
    assert task.kind == name and isinstance(task.signature(), dict)


def test_train_names_what_a_task_lacks():
    class Half:
        kind, batches_per_epoch = "half", 3

        def batch(self, epoch, k, seed, device):
            return None

    assert missing_members(Half()) == ["signature", "loss", "evaluate"]
    with pytest.raises(ValueError, match="a Half has no signature, loss, evaluate"):
        train(torch.nn.Linear(1, 1), Half(), TrainConfig(max_steps=1, progress=False))


@pytest.mark.parametrize("name", ["char_lm", "sentiment", "forecast", "seq2seq"])
def test_shuffling_tasks_draw_their_plan_from_the_epoch_seed_only(name):
    def tensors(batch):
        return list(batch.values()) if isinstance(batch, dict) else list(batch)

    task, again = tasks()[name], tasks()[name]
    torch.manual_seed(0)
    first = tensors(task.batch(1, 0, 5, CPU))
    assert task._plan_key == (1, 5)
    torch.manual_seed(1)  # the global RNG plays no part
    assert all(torch.equal(a, b) for a, b in zip(first, tensors(again.batch(1, 0, 5, CPU))))


def test_the_plan_is_made_once_per_epoch():
    made = []

    class Holder:
        pass

    def make(g):
        made.append(g.initial_seed())
        return torch.randperm(10, generator=g)

    holder = Holder()
    first = epoch_plan(holder, 2, 7, make)
    assert epoch_plan(holder, 2, 7, make) is first and made == [epoch_seed(7, 2)]
    assert not torch.equal(epoch_plan(holder, 3, 7, make), first) and made == [epoch_seed(7, 2), epoch_seed(7, 3)]
    assert epoch_seed(7, 2) == 7 * 1_000_003 + 2  # the seeds stored runs were made with
