import json
import unicodedata

import pytest
import torch

from peft_course import LABELS, CourseError, FeedbackTask, load_feedback
from peft_course.data import PACKAGED_DATA


@pytest.fixture(scope="module")
def ds():
    return load_feedback()


def test_schema_and_split_sizes(ds):
    assert set(ds) == {"train", "validation", "test"}
    assert [len(ds[s]) for s in ("train", "validation", "test")] == [3000, 450, 450]
    for split in ds.values():
        assert set(split.column_names) == {"text", "label", "label_text"}
        assert all(LABELS[r["label"]] == r["label_text"] for r in split)


def test_labels_balanced(ds):
    for split in ds.values():
        counts = torch.bincount(torch.tensor(split["label"]), minlength=3)
        assert counts.min() == counts.max()


def test_text_is_nfc_and_splits_disjoint(ds):
    texts = {s: set(ds[s]["text"]) for s in ds}
    assert all(unicodedata.is_normalized("NFC", t) for s in texts.values() for t in s)
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]


def test_test_split_holds_out_words_and_templates(ds):
    vocab = json.loads((PACKAGED_DATA / "vocabulary_split.json").read_text(encoding="utf-8"))
    train_text = " ".join(ds["train"]["text"]).lower()
    for kind in ("positive", "negative", "facts"):
        for word in vocab[kind]["test"]:
            assert word.lower() not in train_text, word
            assert any(word in t for t in ds["test"]["text"]), word
    for template in vocab["templates"]["test"]:
        prefix = template.split("{")[0]
        assert prefix and prefix not in train_text.capitalize()


def test_encode_places_label_token_at_answer(base, ds):
    task = FeedbackTask(base[1])
    data = task.encode(ds["validation"].select(range(10)))
    for i in range(10):
        pos = int(data.answer_pos[i])
        assert data.labels[i, pos + 1] == task.label_token_ids[data.y[i]]
        assert (data.labels[i] != -100).sum() == 1
        assert data.attention_mask[i, : pos + 2].all() and not data.attention_mask[i, pos + 2:].any()
    assert len(set(task.label_token_ids.tolist())) == 3


def test_bad_data_refused(base):
    task = FeedbackTask(base[1])
    with pytest.raises(CourseError, match="rỗng"):
        task.encode({"text": [], "label": []})
    with pytest.raises(CourseError, match="Nhãn 5"):
        task.encode({"text": ["Em thấy bài giảng hay."], "label": [5]})
    with pytest.raises(CourseError, match="name"):
        load_feedback(3)
