import pytest
import torch

from peft_course import CourseError, evaluate, freeze, load_base_model, train


def small(data, n):
    from peft_course.data import TaskData

    return TaskData(*(t[:n] for t in (data.input_ids, data.attention_mask, data.labels, data.answer_pos, data.y)),
                    data.label_token_ids)


def test_training_lowers_loss_and_records_history(task_data):
    _, tr, val, _ = task_data
    model, _ = load_base_model(device="cpu")
    before = evaluate(model, small(val, 96))["loss"]
    h = train(model, small(tr, 256), small(val, 96), steps=30, lr=1e-3, batch_size=16, eval_every=15, progress=False)
    assert len(h.loss) == 30 and h.eval_steps == [15, 30]
    assert h.eval_loss[-1] < before
    assert h.trainable == sum(p.numel() for p in model.parameters())
    assert h.time_per_step_s > 0 and h.peak_memory_mb == h.peak_memory_mb  # không phải NaN


def test_same_seed_same_numbers(task_data):
    _, tr, _, _ = task_data
    runs = []
    for _ in range(2):
        model, _ = load_base_model(device="cpu")
        runs.append(train(model, small(tr, 128), steps=8, lr=1e-3, batch_size=16, seed=3, progress=False).loss)
    assert runs[0] == runs[1]


def test_frozen_parameters_get_no_gradient_and_do_not_change(task_data):
    _, tr, _, _ = task_data
    model, _ = load_base_model(device="cpu")
    freeze(model, r"ln_f")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    h = train(model, small(tr, 64), steps=5, lr=1e-2, batch_size=16, progress=False)
    assert h.trainable == 2 * model.config.n_embd
    for n, p in model.named_parameters():
        if "ln_f" in n:
            assert not torch.equal(p, before[n])
        else:
            assert p.grad is None and torch.equal(p, before[n]), n


@pytest.mark.parametrize("kwargs, needle", [
    ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"batch_size": 10_000}, "batch_size"),
    ({"eval_every": 0}, "eval_every"), ({"seed": -1}, "seed"),
])
def test_bad_training_arguments(task_data, kwargs, needle):
    model, _ = load_base_model(device="cpu")
    with pytest.raises(CourseError, match=needle):
        train(model, small(task_data[1], 64), **{"steps": 1, "progress": False, **kwargs})


def test_nothing_to_train_is_refused(task_data):
    model, _ = load_base_model(device="cpu")
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(CourseError, match="requires_grad"):
        train(model, small(task_data[1], 64), steps=1, progress=False)
