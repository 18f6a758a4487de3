import pytest
import torch

from foresight_models.metrics import action_hits, action_recall, mentions_action, normalize_words

LABEL = {"template": "Pushing [something] from left to right", "placeholders": ["a red pen"]}


def test_normalisation():
    assert normalize_words("Pushing the PENS, putting boxes; glasses!") == ["push", "the", "pen", "put", "box", "glass"]


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("A hand pushes the pen to the right.", True),
        ("Someone pushed two pens across the table", True),
        ("A person shoves a pen.", True),  # synonym of the verb
        ("A hand pushes a cup.", False),  # wrong object
        ("A pen lies on the table.", False),  # no verb
    ],
)
def test_mentions_action(description, expected):
    assert mentions_action(description, LABEL) is expected


def test_user_synonyms_extend_the_defaults():
    assert not mentions_action("A finger pokes the pen", LABEL)
    assert mentions_action("A finger pokes the pen", LABEL, synonyms={"push": ["poke"]})
    assert mentions_action("A finger shoves the pen", LABEL, synonyms={"push": ["poke"]})


def test_action_recall_and_hits():
    labels = [LABEL, {"template": "Putting [something] into [something]", "placeholders": ["a coin", "a cup"]}]
    descriptions = ["pushing a pen", "someone places coins in a mug"]
    torch.testing.assert_close(action_hits(descriptions, labels), torch.tensor([1.0, 1.0]))
    assert action_recall(["pushing a pen", "a coin"], labels) == 0.5


def test_action_recall_bad_input():
    with pytest.raises(ValueError, match="pair up"):
        action_recall(["a"], [LABEL, LABEL])
    with pytest.raises(ValueError, match="empty"):
        action_recall([], [])
    with pytest.raises(ValueError, match="template"):
        mentions_action("text", {"placeholders": ["a pen"]})
    with pytest.raises(TypeError, match="single string"):
        action_recall("pushing a pen", [LABEL])
