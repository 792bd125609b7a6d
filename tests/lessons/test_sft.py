"""Notebook 01's lesson (ftlab.lessons.sft): which tokens carry the SFT loss, as the notebook shows them."""
from ftlab.core.instructions import load_instructions
from ftlab.lessons.sft import show_loss_tokens


def test_loss_tokens_are_the_answer_and_end_of_turn(small_tokenizer):
    row = load_instructions("train", ("title",), limit_per_task=1)[0]
    shown = show_loss_tokens(small_tokenizer, row["messages"])
    assert f"⟦{row['answer']}<|im_end|>⟧" in shown
    assert shown.count("⟦") == 1

