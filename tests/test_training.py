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


class ScriptedValidation:
    """Thay `evaluate` của vòng huấn luyện: trả về (acc, loss) theo kịch bản và chụp tham số ở mỗi lần đánh giá."""

    def __init__(self, script):
        self.script = list(script)
        self.snapshots = []

    def __call__(self, model, data, batch_size=256):
        self.snapshots.append([p.detach().clone() for p in model.parameters() if p.requires_grad])
        acc, loss = self.script[len(self.snapshots) - 1]
        return {"accuracy": acc, "loss": loss}


def tiny_lora_model():
    from peft_course.lora import LoRAConfig, apply_lora

    model, _ = load_base_model(device="cpu")
    apply_lora(model, LoRAConfig(r=2))
    return model


@pytest.mark.parametrize("script, best_step", [
    ([(0.5, 1.0), (0.7, 0.9), (0.6, 0.8), (0.6, 0.7)], 4),      # acc cao nhất thắng, dù mất mát sau thấp hơn
    ([(0.5, 1.0), (0.7, 0.9), (0.7, 0.8), (0.7, 0.85)], 6),     # bằng acc: mất mát thấp hơn thắng
    ([(0.5, 1.0), (0.7, 0.9), (0.7, 0.9), (0.4, 2.0)], 4),      # bằng cả hai: bước sớm hơn
])
def test_keep_best_restores_the_parameters_of_the_best_evaluation(task_data, monkeypatch, script, best_step):
    import peft_course.training as training

    fake = ScriptedValidation(script)
    monkeypatch.setattr(training, "evaluate", fake)
    model = tiny_lora_model()
    h = train(model, small(task_data[1], 64), small(task_data[2], 16), steps=8, lr=1e-2, batch_size=16,
              eval_every=2, keep_best=True, progress=False)
    assert h.eval_steps == [2, 4, 6, 8] and h.best_step == best_step and h.restored_best
    i = h.eval_steps.index(best_step)
    assert (h.best_val_accuracy, h.best_val_loss) == script[i]
    assert h.final_accuracy == script[i][0]
    now = [p.detach() for p in model.parameters() if p.requires_grad]
    assert all(torch.equal(a, b) for a, b in zip(now, fake.snapshots[i]))
    assert not all(torch.equal(a, b) for a, b in zip(now, fake.snapshots[-1]))  # khác bản ở bước cuối


def test_without_keep_best_the_last_step_is_returned_but_best_step_is_recorded(task_data, monkeypatch):
    import peft_course.training as training

    fake = ScriptedValidation([(0.5, 1.0), (0.9, 0.5), (0.6, 0.8)])
    monkeypatch.setattr(training, "evaluate", fake)
    model = tiny_lora_model()
    h = train(model, small(task_data[1], 64), small(task_data[2], 16), steps=6, lr=1e-2, batch_size=16,
              eval_every=2, progress=False)
    assert h.best_step == 4 and not h.restored_best and h.final_accuracy == 0.6
    now = [p.detach() for p in model.parameters() if p.requires_grad]
    assert all(torch.equal(a, b) for a, b in zip(now, fake.snapshots[-1]))


def test_patience_stops_after_that_many_evaluations_without_improvement(task_data, monkeypatch):
    import peft_course.training as training

    fake = ScriptedValidation([(0.5, 1.0), (0.8, 0.6), (0.8, 0.7), (0.7, 0.6), (0.9, 0.1), (0.9, 0.1)])
    monkeypatch.setattr(training, "evaluate", fake)
    model = tiny_lora_model()
    h = train(model, small(task_data[1], 64), small(task_data[2], 16), steps=12, lr=1e-2, batch_size=16,
              eval_every=2, patience=2, keep_best=True, progress=False)
    assert h.eval_steps == [2, 4, 6, 8] and len(h.loss) == 8 and h.stopped_early and h.best_step == 4


def test_early_stopped_run_equals_the_start_of_the_full_run(task_data):
    """Dừng sớm chỉ cắt bớt: lịch tốc độ học theo `steps`, nên các bước đầu giống hệt lần chạy đủ bước."""
    tr, val = small(task_data[1], 64), small(task_data[2], 16)
    full = train(tiny_lora_model(), tr, val, steps=6, lr=1e-2, batch_size=16, eval_every=2, progress=False)
    short = train(tiny_lora_model(), tr, val, steps=6, lr=1e-2, batch_size=16, eval_every=2, patience=1,
                  progress=False)
    assert short.loss == full.loss[:len(short.loss)]


@pytest.mark.parametrize("kwargs, needle", [
    ({"keep_best": True}, "val_data"), ({"patience": 2}, "val_data"), ({"patience": 0}, "patience"),
    ({"keep_best": "yes"}, "keep_best"),
])
def test_bad_checkpoint_arguments(task_data, kwargs, needle):
    model, _ = load_base_model(device="cpu")
    with pytest.raises(CourseError, match=needle):
        train(model, small(task_data[1], 64), **{"steps": 1, "progress": False, **kwargs})


def test_no_early_stop_before_min_steps(task_data, monkeypatch):
    """Đoạn phẳng lúc đầu (mô hình còn đoán mò) chưa phải hội tụ: patience chỉ có hiệu lực từ min_steps."""
    import peft_course.training as training

    monkeypatch.setattr(training, "evaluate", ScriptedValidation([(0.4, 1.0), (0.3, 1.1), (0.3, 1.2), (0.9, 0.1)]))
    h = train(tiny_lora_model(), small(task_data[1], 64), small(task_data[2], 16), steps=10, lr=1e-2, batch_size=16,
              eval_every=2, patience=1, min_steps=6, progress=False)
    assert h.eval_steps == [2, 4, 6] and h.stopped_early and h.best_step == 2
    with pytest.raises(CourseError, match="min_steps"):
        train(tiny_lora_model(), small(task_data[1], 64), steps=1, min_steps=-1, progress=False)
