import json
import logging
import shutil

import pytest
import torch
from torch.utils.data import DataLoader

from foresight_models.data.datasets import SomethingSomethingV2, collate_clips
from foresight_models.data.synthetic import SyntheticMotion
from foresight_models.data.video import ClipTooShortError, VideoDecodeError, read_video

FRAMES, SIZE = 20, 32
FAST_VP9 = {"deadline": "realtime", "cpu-used": "8"}


@pytest.fixture(scope="module")
def synthetic() -> SyntheticMotion:
    return SyntheticMotion(6, frames=FRAMES, size=SIZE, seed=11)


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory, synthetic):
    return synthetic.write_ssv2(tmp_path_factory.mktemp("ssv2"), split="train", options=FAST_VP9)


@pytest.fixture()
def corrupt_root(tmp_path, clean_root):
    """The clean folder plus a truncated clip, a text file renamed .webm and a clip too short for the window."""
    root = tmp_path / "ssv2"
    shutil.copytree(clean_root, root)
    videos = root / "20bn-something-something-v2"
    data = (videos / "0.webm").read_bytes()
    (videos / "900.webm").write_bytes(data[: len(data) // 2])
    (videos / "901.webm").write_text("not a video\n")
    SyntheticMotion(1, frames=4, size=SIZE, seed=0, first_id=902).write_ssv2(root / "short", options=FAST_VP9)
    shutil.copy(root / "short" / "20bn-something-something-v2" / "902.webm", videos / "902.webm")
    labels = root / "labels" / "something-something-v2-train.json"
    records = json.loads(labels.read_text())
    bad = [{"id": i, "label": "x", "template": "x", "placeholders": []} for i in ("900", "901", "902")]
    # bad clips first, in the middle and last: every position of the fallback is exercised
    labels.write_text(json.dumps([bad[0], *records[:3], bad[1], *records[3:], bad[2]]))
    return root


def test_items_match_the_label_file_and_the_videos(clean_root, synthetic):
    dataset = SomethingSomethingV2(clean_root, "train", context_frames=4, future_frames=3, size=SIZE, stride=2)
    assert len(dataset) == len(synthetic)
    span = (4 + 3 - 1) * 2 + 1
    for i in range(len(dataset)):
        item, truth = dataset[i], synthetic[i]
        assert item["id"] == truth["id"]
        assert (item["label"], item["template"], item["placeholders"]) == (
            truth["label"],
            truth["template"],
            truth["placeholders"],
        )
        assert item["context"].shape == (4, 3, SIZE, SIZE) and item["context"].dtype == torch.uint8
        assert item["future"].shape == (3, 3, SIZE, SIZE)
        assert item["start"] == (FRAMES - span) // 2  # centred window
        path = clean_root / "20bn-something-something-v2" / f"{item['id']}.webm"
        full = read_video(path)
        expected = full[item["start"] : item["start"] + span : 2]
        assert torch.equal(torch.cat([item["context"], item["future"]]), expected)
        # and the decoded frames are the synthetic ones, up to VP9 loss
        original = truth["frames"][item["start"] : item["start"] + span : 2].float()
        assert (expected.float() - original).abs().mean() < 4.0


def test_window_positions(clean_root):
    kwargs = dict(context_frames=2, future_frames=2, size=SIZE, stride=3)
    assert SomethingSomethingV2(clean_root, window="start", **kwargs)[0]["start"] == 0
    torch.manual_seed(0)
    starts = {SomethingSomethingV2(clean_root, window="random", **kwargs)[0]["start"] for _ in range(30)}
    assert starts <= set(range(FRAMES - 10 + 1)) and len(starts) > 3


def test_raise_mode_names_the_bad_file(corrupt_root):
    dataset = SomethingSomethingV2(corrupt_root, context_frames=4, future_frames=4, size=SIZE)
    with pytest.raises(VideoDecodeError, match="900.webm"):
        dataset[0]
    with pytest.raises(VideoDecodeError, match="901.webm"):
        dataset[4]
    with pytest.raises(ClipTooShortError, match="902.webm"):
        dataset[len(dataset) - 1]


def test_skip_mode_counts_logs_once_and_returns_every_good_clip(corrupt_root, synthetic, caplog):
    dataset = SomethingSomethingV2(corrupt_root, context_frames=4, future_frames=4, size=SIZE, on_error="skip")
    good = {synthetic[i]["id"] for i in range(len(synthetic))}
    with caplog.at_level(logging.WARNING, logger="foresight_models.data.datasets"):
        for _ in range(2):  # a second epoch does not log or count again
            items = [dataset[i] for i in range(len(dataset))]
    assert {item["id"] for item in items} == good
    for item in items:  # never zero-filled
        assert item["context"].float().mean() > 50 and item["future"].float().mean() > 50
    assert dataset.num_skipped == 3
    assert dataset.skipped_ids == ["900", "901", "902"]
    assert set(dataset.skip_reasons) == {"900", "901", "902"}
    assert "truncated" in dataset.skip_reasons["900"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all(any(f"{i}.webm" in r.getMessage() for r in warnings) for i in ("900", "901", "902"))


def test_dataloader_with_two_workers(corrupt_root, synthetic):
    dataset = SomethingSomethingV2(corrupt_root, context_frames=4, future_frames=2, size=SIZE, on_error="skip")
    loader = DataLoader(dataset, batch_size=3, num_workers=2, collate_fn=collate_clips)
    ids = []
    for batch in loader:
        assert batch["context"].shape == (3, 4, 3, SIZE, SIZE) and batch["future"].shape == (3, 2, 3, SIZE, SIZE)
        assert isinstance(batch["placeholders"], list) and isinstance(batch["placeholders"][0], list)
        ids += batch["id"]
    assert len(ids) == len(dataset)
    assert set(ids) == {synthetic[i]["id"] for i in range(len(synthetic))}
    assert dataset.num_skipped == 3  # found in the workers, visible here
    assert dataset.skipped_ids == ["900", "901", "902"]


def test_all_clips_bad_raises(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "1.webm").write_text("nope")
    (tmp_path / "labels" / "something-something-v2-train.json").write_text(
        json.dumps([{"id": 1, "label": "a", "template": "a", "placeholders": []}])
    )
    dataset = SomethingSomethingV2(tmp_path, on_error="skip")
    with pytest.raises(RuntimeError, match="every one of the 1 clips"):
        dataset[0]


def test_bad_arguments_are_rejected(clean_root, tmp_path):
    with pytest.raises(ValueError, match="split"):
        SomethingSomethingV2(clean_root, "test")
    with pytest.raises(ValueError, match="on_error"):
        SomethingSomethingV2(clean_root, on_error="ignore")
    with pytest.raises(ValueError, match="window"):
        SomethingSomethingV2(clean_root, window="end")
    with pytest.raises(ValueError, match="context_frames"):
        SomethingSomethingV2(clean_root, context_frames=0)
    with pytest.raises(TypeError, match="size"):
        SomethingSomethingV2(clean_root, size=(32,))
    with pytest.raises(ValueError, match="size"):
        SomethingSomethingV2(clean_root, size=(32, 0))
    with pytest.raises(TypeError, match="context_frames"):
        SomethingSomethingV2(clean_root, context_frames=2.0)
    with pytest.raises(TypeError, match="index"):
        SomethingSomethingV2(clean_root)["0"]
    with pytest.raises(FileNotFoundError, match="validation label file"):
        SomethingSomethingV2(clean_root, "validation")
    (tmp_path / "something-something-v2-train.json").write_text(json.dumps([{"id": "1"}]))
    with pytest.raises(ValueError, match="lacks"):
        SomethingSomethingV2(tmp_path)
    with pytest.raises(IndexError):
        SomethingSomethingV2(clean_root)[100]


def test_collate_stacks_tensors_and_lists_the_rest():
    batch = collate_clips([{"x": torch.ones(2, 3), "s": "a", "n": 1}, {"x": torch.zeros(2, 3), "s": "b", "n": 2}])
    assert batch["x"].shape == (2, 2, 3) and batch["s"] == ["a", "b"] and torch.equal(batch["n"], torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="empty"):
        collate_clips([])


def _label_root(tmp_path, clean_root, extra: list) -> tuple:
    """A copy of the clean layout whose label file lists the clean records plus ``extra``."""
    root = tmp_path / "ssv2"
    shutil.copytree(clean_root, root)
    labels = root / "labels" / "something-something-v2-train.json"
    records = json.loads(labels.read_text())
    labels.write_text(json.dumps([*records, *extra]))
    return root, records


@pytest.mark.parametrize(
    "placeholders,shown",
    [("red cube", "'red cube' (str)"), (None, "None (NoneType)"), ([1, "x"], "[1, 'x'] (list)")],
)
def test_placeholders_must_be_a_list_of_strings(tmp_path, clean_root, placeholders, shown):
    record = {"id": "0", "label": "a", "template": "Moving [something]", "placeholders": placeholders}
    root, records = _label_root(tmp_path, clean_root, [{**record, "id": "777"}])
    with pytest.raises(ValueError, match="record 6 .* has placeholders") as info:
        SomethingSomethingV2(root, size=SIZE, context_frames=2, future_frames=2)
    assert shown in str(info.value) and "expected a list of str" in str(info.value)
    # skip: the record is counted as skipped and never returned, whatever its video
    dataset = SomethingSomethingV2(root, size=SIZE, context_frames=2, future_frames=2, on_error="skip")
    assert dataset.num_skipped == 1 and dataset.skipped_ids == ["777"]
    assert "placeholders" in dataset.skip_reasons["777"]
    assert dataset[6]["id"] == records[0]["id"]  # falls through to the next good clip
    assert all(isinstance(p, str) for i in range(len(dataset)) for p in dataset[i]["placeholders"])


@pytest.mark.parametrize("bad_id", ["../outside", "/abs/outside", "..", "sub/0", ""])
def test_ids_only_name_files_inside_the_video_folder(tmp_path, clean_root, bad_id):
    outside = tmp_path / "outside.webm"
    shutil.copy(clean_root / "20bn-something-something-v2" / "0.webm", outside)
    if bad_id == "/abs/outside":
        bad_id = str(tmp_path / "outside")
    root, _ = _label_root(tmp_path, clean_root, [{"id": bad_id, "label": "a", "template": "a", "placeholders": []}])
    # "../outside" from the video folder is tmp_path/ssv2/outside.webm: put a readable clip there too
    shutil.copy(outside, root / "outside.webm")
    with pytest.raises(ValueError, match="not a plain file name") as info:
        SomethingSomethingV2(root, size=SIZE, context_frames=2, future_frames=2)
    assert repr(bad_id) in str(info.value)
    dataset = SomethingSomethingV2(root, size=SIZE, context_frames=2, future_frames=2, on_error="skip")
    assert dataset.skipped_ids == [bad_id]
    assert [dataset[i]["id"] for i in range(len(dataset))] == [str(i) for i in range(6)] + ["0"]


def test_invalid_records_are_named_with_their_field(tmp_path, clean_root):
    root, _ = _label_root(tmp_path, clean_root, [{"id": True, "label": "a", "template": "a", "placeholders": []}])
    with pytest.raises(ValueError, match=r"record 6 .*has id True \(bool\)"):
        SomethingSomethingV2(root)
    root2, _ = _label_root(tmp_path / "2", clean_root, ["just a string"])
    with pytest.raises(ValueError, match="record 6 .*is a str, not a record"):
        SomethingSomethingV2(root2)
    assert SomethingSomethingV2(root2, on_error="skip").skipped_ids == ["<record 6>"]
