import pytest
import torch

from foresight_models.metrics import box_average_precision, box_iou, mask_iou, match_objects, matched_iou


def test_box_iou_hand_computed():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    b = torch.tensor([[1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    expected = torch.tensor([[1 / 4, 1.0, 0.0], [1 / 4, 1 / 7, 0.0]])
    torch.testing.assert_close(box_iou(a, b), expected)
    degenerate = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    torch.testing.assert_close(box_iou(degenerate, degenerate), torch.zeros(1, 1))


def test_box_iou_rejects_bad_boxes():
    with pytest.raises(ValueError, match=r"x0 <= x1"):
        box_iou(torch.tensor([[2.0, 0.0, 1.0, 1.0]]), torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        box_iou(torch.zeros(2, 3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="NaN"):
        box_iou(torch.tensor([[0.0, 0.0, float("nan"), 1.0]]), torch.zeros(1, 4))


def test_mask_iou_hand_computed():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    a[0, :2, :2] = True  # 4 pixels
    a[1, :, :] = True  # 16 pixels
    b = torch.zeros(1, 4, 4, dtype=torch.bool)
    b[0, :2, :] = True  # 8 pixels
    torch.testing.assert_close(mask_iou(a, b), torch.tensor([[4 / 8], [8 / 16]]))
    with pytest.raises(ValueError, match="0 and 1"):
        mask_iou(a.float() * 0.5, b)
    with pytest.raises(ValueError, match="share the grid"):
        mask_iou(a, b[:, :3])


def test_matched_iou_uses_one_to_one_hungarian_matching():
    targets = torch.tensor([[0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0]])
    # prediction 0 overlaps both targets; greedy would give it target 0 and leave target 1 poorly matched
    predictions = torch.tensor([[0.5, 0.0, 2.5, 2.0], [0.0, 0.0, 1.5, 2.0]])
    scores = matched_iou(predictions, targets)
    iou = box_iou(predictions, targets)
    torch.testing.assert_close(scores, torch.stack([iou[1, 0], iou[0, 1]]))
    rows, cols = match_objects(iou)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    # fewer predictions than objects: the unmatched object scores 0
    torch.testing.assert_close(matched_iou(targets[:1], targets), torch.tensor([1.0, 0.0]))


def test_matched_mask_iou():
    target = torch.zeros(2, 4, 4, dtype=torch.bool)
    target[0, :2, :2] = True
    target[1, 2:, 2:] = True
    prediction = torch.stack([target[1], target[0] | torch.eye(4, dtype=torch.bool)])  # swapped order, one noisy
    # object 0 matches prediction 1 (4 of 6 pixels), object 1 matches prediction 0 exactly
    torch.testing.assert_close(matched_iou(prediction, target, kind="mask"), torch.tensor([4 / 6, 1.0]))


def test_box_average_precision_hand_computed():
    truth = [torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]])]
    predictions = [
        torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]),  # a hit (0.9) and a duplicate (0.3)
        torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]]),  # a hit (0.8) and a miss (0.6)
    ]
    scores = [torch.tensor([0.9, 0.3]), torch.tensor([0.8, 0.6])]
    # ranked: hit, hit, miss, duplicate -> precision 1, 1 at recall 1/3, 2/3; the third object is never found
    torch.testing.assert_close(box_average_precision(predictions, scores, truth), torch.tensor(2 / 3))
    assert float(box_average_precision(truth, [torch.ones(1), torch.ones(2)], truth)) == 1.0
    with pytest.raises(ValueError, match="one entry per image"):
        box_average_precision(predictions, scores[:1], truth)


def test_kind_and_iou_threshold_are_checked():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="kind: expected one of 'box', 'mask', got 'polygon'"):
        matched_iou(boxes, boxes, kind="polygon")
    with pytest.raises(ValueError, match=r"iou_threshold: expected a finite number in \(0.0, 1.0\], got 1.5"):
        box_average_precision([boxes], [torch.ones(1)], [boxes], iou_threshold=1.5)
    with pytest.raises(TypeError, match="iou_threshold: expected a real number, got '0.5'"):
        box_average_precision([boxes], [torch.ones(1)], [boxes], iou_threshold="0.5")
